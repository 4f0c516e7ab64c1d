"""``osld evaluate embedder``: open-set Recall@k of an embedder (development data in ``../shared``).

(a) real car-emblem crops (34 held-out brands x 16; each cut as the pipeline cuts a frame-filling box) searched
    against a registry of every canonical logo (5,104 brands; the car brands' own canonical images where they
    exist, otherwise one real crop per brand as the exemplar, which is then not a query);
(b) augmented renders of the validation brands (never trained on) against the same registry.

Five car brands redesigned their logo in 2021-2022 (``REDESIGNED_CAR_BRANDS``, ``docs/redesigned_car_emblems.jpg``):
the catalogue holds the new design and all 16 photos of each show the old emblem (Kia's oval wordmark against the
new script, Peugeot's standing lion against the shield-framed head, Dacia's badge against the new link; Citroën and
Renault redrew their chevrons and diamond). Session 31's embedder named none of those 80 photos. A user registers the
design their photos show, so those brands also get one real crop of the old emblem as an exemplar, as brands
without a canonical image do. ``per_brand`` in each result gives every brand's Recall@1.

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
from osld.data.logos import normalize_brand, read_catalogue, real_brand_key
from osld.embedder import Embedder
from osld.registry import Registry

# the catalogue's image is the 2021-2022 redesign; all of their vehicle_logos photos show the old emblem
REDESIGNED_CAR_BRANDS = frozenset({"citroen", "dacia", "kia", "peugeot", "renault"})


@dataclass(frozen=True)
class EmbedderEvalData:
    logos: Path
    vehicle_logos: Path
    backgrounds: Path
    val_brands: tuple[str, ...]
    real_brand_dirs: tuple[Path, ...] = ()  # folders with labels_brand/: their val side gives (c)'s queries


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


def frame_filling_crop(image: np.ndarray) -> np.ndarray:
    """A close-up (the logo fills the photo) cut as ``Pipeline`` cuts a box that covers the whole frame."""
    from osld.pipeline import MatchConfig

    h, w = image.shape[:2]
    return MatchConfig().crops(image, np.array([[0, 0, w, h]], np.float32))[0]


def real_brand_crops(data: EmbedderEvalData, split: str) -> list[tuple[str, np.ndarray]]:
    """(brand key, RGB crop) of every labelled box on one side (``train``/``val``) of the real brand sets."""
    from osld.embedder.data import brand_crop_classes

    out = []
    for root in data.real_brand_dirs:
        for brand, sources in zip(*brand_crop_classes(Path(root), split=split), strict=True):
            for src in sources:
                img = load_image(src.path).pixels
                x1, y1, x2, y2 = (int(round(v)) for v in src.box)
                out.append((real_brand_key(brand), img[max(y1, 0):y2, max(x1, 0):x2]))
    return out


def _write_real_exemplars(folder: Path, data: EmbedderEvalData, have: set[str], only: set[str] | None,
                          per_brand: int = 3) -> None:
    """Real brands without a canonical image get up to ``per_brand`` crops of their train-side photos."""
    import cv2

    count: dict[str, int] = {}
    for brand, crop in real_brand_crops(data, "train"):
        if brand in have or (only is not None and brand not in only) or count.get(brand, 0) >= per_brand \
                or crop.size == 0:
            continue
        d = folder / brand
        d.mkdir(exist_ok=True)
        target = d / f"exemplar_{count.get(brand, 0)}.jpg"
        if not target.exists():
            cv2.imwrite(str(target), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        count[brand] = count.get(brand, 0) + 1


def build_eval_registry(folder: Path, data: EmbedderEvalData, only: set[str] | None = None
                        ) -> tuple[Path, set[Path]]:
    """A registry folder of symlinks: every canonical logo, plus one real exemplar for car brands without one
    (and for ``REDESIGNED_CAR_BRANDS``: their old emblem), plus up to 3 train-side crops for real-set brands without
    one. ``only``: just these brands (a small registry).

    Returns the folder and the exemplar images (excluded from the queries).
    """
    folder.mkdir(parents=True, exist_ok=True)
    catalogue = [c for c in read_catalogue(data.logos) if only is None or c.brand in only]
    have = set()
    for logo in catalogue:
        d = folder / logo.brand
        d.mkdir(exist_ok=True)
        link = d / f"{logo.source}__{logo.path.name}"
        if not link.exists():
            os.symlink(logo.path.resolve(), link)
        have.add(logo.brand)
    exemplars, exemplar_brands = set(), set()
    for brand, path in vehicle_queries(data.vehicle_logos):
        if brand in exemplar_brands or (brand in have and brand not in REDESIGNED_CAR_BRANDS) \
                or (only is not None and brand not in only):
            continue
        exemplar_brands.add(brand)
        d = folder / brand
        d.mkdir(exist_ok=True)
        link = d / f"exemplar__{path.name}"
        if not link.exists():
            os.symlink(path.resolve(), link)
        exemplars.add(path)
        have.add(brand)
    if data.real_brand_dirs:
        _write_real_exemplars(folder, data, have, only)
    return folder, exemplars


def own_brands_registry(folder: Path, data: EmbedderEvalData, embedder: Embedder, brands: set[str]
                        ) -> tuple[Registry, set[Path]]:
    """A synced registry of just ``brands`` (the "own brands only" case) and its exemplar images (not queries)."""
    small_folder, exemplars = build_eval_registry(folder, data, only=brands)
    registry = Registry(small_folder, embedder)
    registry.sync(progress=False)
    return registry, exemplars


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
        if k == 1:
            by_brand: dict[str, list[bool]] = {}
            for t, hit in zip(truth, hits, strict=True):
                by_brand.setdefault(t, []).append(hit)
            out["per_brand"] = {b: round(float(np.mean(v)), 3) for b, v in sorted(by_brand.items())}
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
    """Recall@1/@5 on (a), (b) and (c), against the full registry and, for (a) and (c), a registry of the
    evaluated brands alone; float and (optionally) sign-binarized embeddings."""
    folder, exemplars = build_eval_registry(cache_dir / "registry", data)
    registry = Registry(folder, embedder)
    registry.sync(progress=progress)
    queries = [(b, p) for b, p in vehicle_queries(data.vehicle_logos) if p not in exemplars]
    vehicle_emb = embedder.embed([frame_filling_crop(load_image(p).pixels) for _, p in queries])
    vehicle_truth = [b for b, _ in queries]
    crops, val_truth = render_val_queries(data)
    val_emb = embedder.embed(crops)
    sets = {"vehicle_real_crops": (vehicle_emb, vehicle_truth), "val_brands_augmented": (val_emb, val_truth)}
    real = [(b, c) for b, c in real_brand_crops(data, "val") if c.size] if data.real_brand_dirs else []
    if real:
        sets["real_brand_val_crops"] = (embedder.embed([c for _, c in real]), [b for b, _ in real])
    result = {
        "registry_images": len({p for p in registry.row_paths}),
        "registry_brands": len(registry.brands()),
        **{name: recall_at(registry, emb, truth) for name, (emb, truth) in sets.items()},
    }
    for name in ("vehicle_real_crops", "real_brand_val_crops"):
        if name not in sets:
            continue
        emb, truth = sets[name]
        small, _ = own_brands_registry(cache_dir / f"registry_{name}_only", data, embedder, set(truth))
        result[f"{name}@own_brands"] = {**recall_at(small, emb, truth), "registry_brands": len(small.brands())}
    if binary:
        bin_registry = Registry(folder, embedder, binary=True, rescore=False)  # Hamming ranking alone
        bin_registry.sync()
        result["binary"] = {name: recall_at(bin_registry, emb, truth) for name, (emb, truth) in sets.items()}
    return result


def format_table(results: dict[str, dict]) -> str:
    """Markdown table: one row per model and query set; Recall@1/@5 against the full registry, R@1 against the
    evaluated brands alone, and binary R@1."""
    nan = {"recall@1": float("nan"), "recall@5": float("nan")}
    lines = ["| model | queries | n | R@1 (all brands) | R@5 (all brands) | R@1 (own brands only) | R@1 binary |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for key, label in (("vehicle_real_crops", "(a) real car emblems, held-out brands"),
                           ("val_brands_augmented", "(b) renders of validation brands"),
                           ("real_brand_val_crops", "(c) real brand photos, val side")):
            if key not in r:
                continue
            full, own = r[key], r.get(f"{key}@own_brands", nan)
            binary = r.get("binary", {}).get(key, nan)
            lines.append(f"| {name} | {label} | {full.get('n_queries', 0)} | {full['recall@1']:.3f} | "
                         f"{full['recall@5']:.3f} | {own['recall@1']:.3f} | {binary['recall@1']:.3f} |")
    for name, r in results.items():
        weakest = sorted(r.get("vehicle_real_crops", {}).get("per_brand", {}).items(), key=lambda kv: kv[1])[:8]
        if weakest:
            lines.append(f"\n(a) weakest car brands, {name}: " + ", ".join(f"{b} {v:.2f}" for b, v in weakest))
    return "\n".join(lines)


def save_json(obj: dict, path: Path) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2))
