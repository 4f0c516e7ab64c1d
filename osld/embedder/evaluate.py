"""``osld evaluate embedder``: open-set Recall@k of an embedder (development data in ``../shared``).

(a) real car-emblem crops (34 held-out brands x 16) searched against a registry of every canonical logo
    (5,104 brands; the car brands' own canonical images where they exist, otherwise one real crop per brand as
    the exemplar, which is then not a query);
(b) augmented renders of the validation brands (never trained on) against the same registry.

The registry is a real ``Registry`` folder of symlinks, so its faiss index is cached per embedder.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osld._io import atomic_write_text
from osld.data.images import iter_image_files, load_image
from osld.data.logos import normalize_brand, read_catalogue
from osld.embedder import Embedder
from osld.registry import Registry


@dataclass(frozen=True)
class EmbedderEvalData:
    logos: Path
    vehicle_logos: Path
    backgrounds: Path
    val_brands: tuple[str, ...]


def vehicle_queries(root: Path) -> list[tuple[str, Path]]:
    """(brand key, image path) for every car-emblem image, brand keys normalized like the logo manifest."""
    out = []
    with open(root / "structure.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            brand = normalize_brand(re.sub(r"\s+\d+$", "", row["Template Name"]))
            rel = row["Image"]
            path = root / "Images" / Path(rel).name if not (root / rel).exists() else root / rel
            out.append((brand, path))
    return sorted(out, key=lambda t: (t[0], t[1].name))


def build_eval_registry(folder: Path, data: EmbedderEvalData) -> tuple[Path, set[Path]]:
    """A registry folder of symlinks: every canonical logo, plus one real exemplar for car brands without one.

    Returns the folder and the exemplar images (excluded from the queries).
    """
    folder.mkdir(parents=True, exist_ok=True)
    catalogue = read_catalogue(data.logos)
    have = set()
    for logo in catalogue:
        d = folder / logo.brand
        d.mkdir(exist_ok=True)
        link = d / f"{logo.source}__{logo.path.name}"
        if not link.exists():
            os.symlink(logo.path.resolve(), link)
        have.add(logo.brand)
    exemplars = set()
    for brand, path in vehicle_queries(data.vehicle_logos):
        if brand in have:
            continue
        d = folder / brand
        d.mkdir(exist_ok=True)
        link = d / f"exemplar__{path.name}"
        if not link.exists():
            os.symlink(path.resolve(), link)
        exemplars.add(path)
        have.add(brand)
    return folder, exemplars


def recall_at(registry: Registry, emb: np.ndarray, truth: list[str], ks: tuple[int, ...] = (1, 5)) -> dict:
    """Recall@k, plus an open-set operating point for ``MatchConfig.min_sim``.

    The impostor score of a query is its best similarity to any *other* brand: what the query would get if its
    own brand were not registered. ``min_sim@far5`` is the similarity that rejects 95% of impostor scores, and
    ``accept@far5`` the fraction of queries whose correct top-1 match stays above it.
    """
    matches = registry.search(emb, k=max(max(ks), 10))
    out: dict = {}
    for k in ks:
        hits = [t in [m.brand for m in ms[:k]] for t, ms in zip(truth, matches, strict=True)]
        out[f"recall@{k}"] = float(np.mean(hits)) if hits else float("nan")
    impostor = np.array([next((m.sim for m in ms if m.brand != t), -1.0) for t, ms in zip(truth, matches,
                                                                                          strict=True)])
    correct_top1 = np.array([ms[0].sim if ms and ms[0].brand == t else np.nan for t, ms in zip(truth, matches,
                                                                                               strict=True)])
    if len(impostor):
        thr = float(np.quantile(impostor, 0.95))
        out["min_sim@far5"] = thr
        out["accept@far5"] = float(np.mean(np.nan_to_num(correct_top1, nan=-2.0) >= thr))
    out["n_queries"] = len(truth)
    return out


def render_val_queries(data: EmbedderEvalData, per_image: int = 2, seed: int = 1234, size: int = 112,
                       max_brands: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Augmented RGB crops of the validation brands' canonical logos (deterministic)."""
    from osld.embedder.data import SampleRenderer, Source

    val = set(data.val_brands[:max_brands] if max_brands else data.val_brands)
    logos = [c for c in read_catalogue(data.logos) if c.brand in val]
    renderer = SampleRenderer(list(iter_image_files([data.backgrounds])), size=size)
    crops, truth = [], []
    for i, logo in enumerate(logos):
        for j in range(per_image):
            rng = np.random.default_rng([seed, i, j])
            x = renderer(Source(logo.path), rng)
            crops.append(x.transpose(1, 2, 0).astype(np.uint8))
            truth.append(logo.brand)
    return crops, truth


def evaluate_embedder(embedder: Embedder, data: EmbedderEvalData, cache_dir: Path, binary: bool = True,
                      progress: bool = True) -> dict:
    """Recall@1/@5 on (a) and (b), for float and (optionally) sign-binarized embeddings."""
    folder, exemplars = build_eval_registry(cache_dir / "registry", data)
    registry = Registry(folder, embedder)
    registry.sync(progress=progress)
    queries = [(b, p) for b, p in vehicle_queries(data.vehicle_logos) if p not in exemplars]
    vehicle_emb = embedder.embed([load_image(p).pixels for _, p in queries])
    vehicle_truth = [b for b, _ in queries]
    crops, val_truth = render_val_queries(data)
    val_emb = embedder.embed(crops)
    result = {
        "registry_images": len({p for p in registry.row_paths}),
        "registry_brands": len(registry.brands()),
        "vehicle_real_crops": recall_at(registry, vehicle_emb, vehicle_truth),
        "val_brands_augmented": recall_at(registry, val_emb, val_truth),
    }
    if binary:
        bin_registry = Registry(folder, embedder, binary=True, rescore=False)  # Hamming ranking alone
        bin_registry.sync()
        result["binary"] = {
            "vehicle_real_crops": recall_at(bin_registry, vehicle_emb, vehicle_truth),
            "val_brands_augmented": recall_at(bin_registry, val_emb, val_truth),
        }
    return result


def format_table(results: dict[str, dict]) -> str:
    """Markdown table: one row per model, float and binary Recall@1/@5 on (a) and (b)."""
    lines = ["| model | (a) cars R@1 | (a) cars R@5 | (b) val R@1 | (b) val R@5 | (a) R@1 binary | (b) R@1 binary |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        a, b = r["vehicle_real_crops"], r["val_brands_augmented"]
        ab = r.get("binary", {}).get("vehicle_real_crops", {}).get("recall@1", float("nan"))
        bb = r.get("binary", {}).get("val_brands_augmented", {}).get("recall@1", float("nan"))
        lines.append(f"| {name} | {a['recall@1']:.3f} | {a['recall@5']:.3f} | {b['recall@1']:.3f} | "
                     f"{b['recall@5']:.3f} | {ab:.3f} | {bb:.3f} |")
    return "\n".join(lines)


def save_json(obj: dict, path: Path) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2))
