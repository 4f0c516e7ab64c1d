"""Data of the naming benchmark (``benchmarks/naming.py``): the real brand-labelled val photos and their halves,
registry crops from the train side, distractor brands from the logo catalogue, and cached embeddings/proposals.

Kept apart from ``naming.py`` (which tunes and reports) so the measuring code reads on its own.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osld.data.logos import normalize_brand, real_brand_key  # noqa: E402
from osld.data.yolo import cxcywh_to_xyxy, list_images, read_brand_labels, split_by_hash  # noqa: E402
from osld.types import Detections  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
REAL = ("logodet3k_clothes", "beerjp", "tdtu")
CARS_PER_BRAND = 4  # emblem photos per car brand: ~110 photos, a third of the positives beside the ~190 real boxes
BACKGROUNDS = ("bsds500", "coco128", "camvid", "oi_personcar")


def half(path: Path) -> str:
    """Tuning or reporting half, by a salted hash independent of the train/val split."""
    h = int(hashlib.sha1(("naming-half:" + path.name).encode()).hexdigest()[:8], 16)
    return "tune" if h % 2 == 0 else "report"


def read_brand_boxes(root: Path, img: Path) -> list[tuple[str, np.ndarray]]:
    """``read_brand_labels`` with brand names keyed like the logo catalogue's (``root``: the set's folder).

    Logo variants of one brand (``new_balance_1``, ``new_balance_2``) are one brand, as in ``osld train`` and
    ``osld evaluate embedder``: until session 22 they were two, and the catalogue's ``newbalance`` a third, so
    naming a New Balance logo New Balance counted as a wrong brand at 1,000+ brands."""
    return [(real_brand_key(b), box) for b, box in read_brand_labels(root / "images" / img.name)]


def brand_boxes_xyxy(boxes: list[tuple[str, np.ndarray]], w: int, h: int) -> np.ndarray:
    """The (n, 4) pixel boxes of ``read_brand_boxes``' normalised centre-size boxes."""
    return cxcywh_to_xyxy(np.array([b for _, b in boxes], np.float64).reshape(-1, 4), w, h)


def val_brand_photos() -> list[tuple[Path, list[tuple[str, np.ndarray]]]]:
    """The never-trained-on val photos of the real brand sets that carry brand boxes, with those boxes."""
    out = []
    for name in REAL:
        root = SHARED / "real" / name
        _, val = split_by_hash(list_images(root / "images"), 0.2)
        out += [(p, boxes) for p in val if (boxes := read_brand_boxes(root, p))]
    return out


def registry_crops(work: Path) -> dict[str, list[Path]]:
    """Up to 10 train-side crops per brand, written once as JPEGs."""
    import cv2

    out_dir = work / "registry_crops_v2"  # v2: brands keyed by real_brand_key
    done = out_dir / ".done"
    if not done.exists():
        for root in (SHARED / "real" / r for r in REAL):
            train, _ = split_by_hash(list_images(root / "images"), 0.2)
            for img_path in train:
                boxes = read_brand_boxes(root, img_path)
                if not boxes:
                    continue
                img = cv2.imread(str(img_path))
                h, w = img.shape[:2]
                for k, (brand, b) in enumerate(boxes):
                    x1, y1, x2, y2 = cxcywh_to_xyxy(b[None], w, h)[0].round().astype(int)
                    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
                    if min(x2 - x1, y2 - y1) < 16:
                        continue
                    d = out_dir / brand
                    d.mkdir(parents=True, exist_ok=True)
                    if len(list(d.glob("*.jpg"))) < 10:
                        cv2.imwrite(str(d / f"{img_path.stem}_{k}.jpg"), img[y1:y2, x1:x2])
        done.touch()
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(out_dir.iterdir()) if d.is_dir()}


def car_photos() -> tuple[dict[str, list[tuple[str, np.ndarray]]], dict[str, list[Path]]]:
    """The car-emblem part: the first ``CARS_PER_BRAND`` photos of every vehicle-logos brand with a canonical image
    in the logo catalogue, each a tight crop (its box is the whole frame), and that canonical image as the brand's
    registry entry, as a user registers a brand. None of it is trained on (the embedder evaluates on these photos).

    ``REDESIGNED_CAR_BRANDS`` (the catalogue holds their 2021-2022 redesign, the photos the old emblem) also register
    the old-emblem photo ``osld evaluate embedder`` registers (their first), which is then not a query: a user
    registers the design their photos show."""
    from osld.embedder.evaluate import REDESIGNED_CAR_BRANDS, vehicle_queries

    canonical = dict(distractors(set()))
    photos: dict[str, list[Path]] = {}
    for brand, path in vehicle_queries(SHARED / "real" / "vehicle_logos"):
        if brand in canonical:
            photos.setdefault(brand, []).append(path)
    gt: dict[str, list[tuple[str, np.ndarray]]] = {}
    registry: dict[str, list[Path]] = {}
    for brand, paths in photos.items():
        exemplars = paths[:1] if brand in REDESIGNED_CAR_BRANDS else []
        queries = paths[len(exemplars): len(exemplars) + CARS_PER_BRAND]
        if queries:
            registry[brand] = [canonical[brand], *exemplars]
            gt.update({str(q): [(brand, np.array([0.5, 0.5, 1.0, 1.0]))] for q in queries})
    return gt, dict(sorted(registry.items()))


def distractors(exclude: set[str]) -> list[tuple[str, Path]]:
    import csv

    seen: dict[str, Path] = {}
    with open(SHARED / "logos" / "manifest.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            key = normalize_brand(r["brand"])
            if key not in exclude and normalize_brand(r["brand_name"]) not in exclude and key not in seen:
                seen[key] = SHARED / "logos" / r["path"]
    return sorted(seen.items(), key=lambda kv: hashlib.sha1(kv[0].encode()).hexdigest())


def embed_registry(embedder, crops: dict[str, list[Path]], extra: list[tuple[str, Path]], cache: Path
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (vectors, brand per row, score offset per row): real crops embedded once, canonical PNGs as the
    registry's variants (``osld.embedder.preprocess``), each row's offset as the registry's search adds it."""
    from osld.data.images import load_rgba
    from osld.embedder.preprocess import (
        CANONICAL_VARIANTS,
        VARIANT_PENALTY,
        canonical_variants,
        drawing_fingerprint,
        variant_offsets,
    )

    # distractors: the plain variant on white and the penalised ones, not the other plain composites (a third of
    # the embedding time on a shared CPU; their best match is nearly always the white one)
    distractor_variants = [v for v in CANONICAL_VARIANTS if v == CANONICAL_VARIANTS[0] or v in VARIANT_PENALTY]
    items = [(b, p) for b, ps in crops.items() for p in ps] + extra
    # the cache is named by what it holds, so a change of brands, distractors or variants is never served stale
    # ... or of how a variant is drawn (the chrome badge's rendering changed in session 28)
    key = repr((items, CANONICAL_VARIANTS, distractor_variants, sorted(VARIANT_PENALTY.items()),
                drawing_fingerprint()))
    cache = cache.with_name(f"{cache.stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}{cache.suffix}")
    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        return z["vectors"], z["brands"], z["offsets"]
    n_crops = len(items) - len(extra)
    vecs, brands, offsets = [], [], []
    for start in range(0, len(items), 64):
        chunk = items[start: start + 64]
        imgs, owners = [], []
        for i, (b, p) in enumerate(chunk):
            variants = CANONICAL_VARIANTS if start + i < n_crops else distractor_variants
            try:
                v = canonical_variants(load_rgba(p), variants)  # an opaque image (a real crop): itself, once
            except Exception as e:  # noqa: BLE001 - one bad catalogue file must not stop the benchmark
                print(f"skip {p}: {e}", file=sys.stderr)
                continue
            imgs.extend(v)
            offsets.append(variant_offsets([len(v)], variants))
            owners.extend([b] * len(v))
        vecs.append(embedder.embed(imgs))
        brands.extend(owners)
        print(f"\rregistry embeddings {start + len(chunk)}/{len(items)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    vectors, brands_arr, offsets_arr = np.concatenate(vecs), np.array(brands, object), np.concatenate(offsets)
    np.savez(cache, vectors=vectors, brands=brands_arr, offsets=offsets_arr)
    return vectors, brands_arr, offsets_arr


def photo_detections(pipe, photos: list[Path], cache: Path) -> list[dict]:
    """Low-threshold proposals with region embeddings, per photo (cached per model pair; only photos missing from
    the cache are run, so a larger ``--backgrounds`` reuses the earlier ones)."""
    done = {}
    if cache.exists():
        done = {item["path"]: item for item in np.load(cache, allow_pickle=True)["items"]}
    todo = [p for p in photos if str(p) not in done]
    t0 = time.time()
    for i, res in enumerate(pipe.run(todo, progress=False)):
        d = res.detections
        if d is None:
            d = Detections.empty(width=1, height=1)
        # the pipeline fills emb (zero rows for boxes below min_crop_px); only the empty stand-in above has None
        done[str(res.path)] = {"path": str(res.path), "xyxy": d.xyxy, "score": d.score,
                               "emb": d.emb if d.emb is not None else np.zeros((len(d), pipe.embedder.dim),
                                                                              np.float32),
                               "width": d.metadata["width"], "height": d.metadata["height"]}
        print(f"\rphotos {i + 1}/{len(todo)} ({time.time() - t0:.0f} s)", end="", file=sys.stderr)
    if todo:
        print(file=sys.stderr)
        np.savez(cache, items=np.array(list(done.values()), dtype=object))
    return [done[str(p)] for p in photos]


def write_false_names(out_dir: Path, stem: str, found: list[tuple[str, np.ndarray, str, float, float]],
                      title: str, limit: int = 60) -> None:
    """``stem.csv`` (every false name) and ``stem.png`` (a contact sheet of the first ``limit``, each tile
    captioned with its brand and similarity): to look at what the embedder mistakes for a registered logo."""
    import csv

    import cv2

    from osld._io import atomic_write_bytes
    from osld.data.images import load_image
    from osld.discover.report import contact_sheet
    from osld.pipeline import MatchConfig

    found = sorted(found, key=lambda f: -f[4])
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{stem}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo", "x1", "y1", "x2", "y2", "brand", "similarity", "confidence"])
        w.writerows([p, *(round(float(v), 1) for v in box), b, round(s, 4), round(c, 4)] for p, box, b, s, c in found)
    tiles = []
    for path, box, brand, sim, _ in found[:limit]:
        loaded = load_image(path)
        crop = MatchConfig().crops(loaded.pixels, box[None] * loaded.scale)[0]
        k = 104 / max(crop.shape[:2])
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))))
        tile = np.full((128, 128, 3), 255, np.uint8)  # the crop over a caption, one contact-sheet tile
        tile[: crop.shape[0], (128 - crop.shape[1]) // 2:][:, : crop.shape[1]] = crop
        cv2.putText(tile, f"{brand[:12]} {sim:.2f}", (2, 122), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (200, 0, 0), 1,
                    cv2.LINE_AA)
        tiles.append(tile)
    sheet = contact_sheet(tiles, title)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    atomic_write_bytes(out_dir / f"{stem}.png", png.tobytes())
