"""A contact sheet of car brands: each brand's canonical image(s) from the catalogue beside photos of its emblem.

Shows at a glance whether the registry holds the design the photos show (``REDESIGNED_CAR_BRANDS`` in
``osld.embedder.evaluate``: the five brands whose catalogue image is the 2021-2022 redesign):

    python benchmarks/car_emblem_sheet.py --out docs/redesigned_car_emblems.jpg            # those five brands
    python benchmarks/car_emblem_sheet.py --brands volvo skoda nissan --photos 8 --out sheet.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from osld.data.images import load_image
from osld.data.logos import read_catalogue
from osld.embedder.evaluate import REDESIGNED_CAR_BRANDS, vehicle_queries

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TILE = 112
LABEL_W = 120


def _tile(rgb: np.ndarray) -> np.ndarray:
    """A square tile, the image letterboxed on white."""
    h, w = rgb.shape[:2]
    scale = (TILE - 8) / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    tile = np.full((TILE, TILE, 3), 255, np.uint8)
    y, x = (TILE - small.shape[0]) // 2, (TILE - small.shape[1]) // 2
    tile[y:y + small.shape[0], x:x + small.shape[1]] = small
    return tile


def _label(text: str, width: int, height: int = TILE) -> np.ndarray:
    panel = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(panel, text, (6, height // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def brand_rows(brands: list[str], photos: int, shared: Path) -> np.ndarray:
    canon: dict[str, list[Path]] = {}
    for logo in read_catalogue(shared / "logos"):
        if logo.brand in brands:
            canon.setdefault(logo.brand, []).append(logo.path)
    emblems: dict[str, list[Path]] = {}
    for brand, path in vehicle_queries(shared / "real" / "vehicle_logos"):
        emblems.setdefault(brand, []).append(path)
    n_canon = max((len(canon.get(b, [])) for b in brands), default=0) or 1
    header = np.hstack([_label("brand", LABEL_W, 28), _label("catalogue", n_canon * TILE, 28), _label(
        "photos (vehicle_logos)", photos * TILE, 28)])
    rows = [header]
    for brand in brands:
        tiles = [_tile(load_image(p).pixels) for p in canon.get(brand, [])[:n_canon]]
        tiles += [np.full((TILE, TILE, 3), 235, np.uint8)] * (n_canon - len(tiles))
        shots = [_tile(load_image(p).pixels) for p in emblems.get(brand, [])[:photos]]
        shots += [np.full((TILE, TILE, 3), 235, np.uint8)] * (photos - len(shots))
        rows.append(np.hstack([_label(brand, LABEL_W), *tiles, *shots]))
    return np.vstack(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brands", nargs="+", default=sorted(REDESIGNED_CAR_BRANDS))
    ap.add_argument("--photos", type=int, default=8, help="emblem photos per brand")
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    sheet = brand_rows(args.brands, args.photos, args.shared)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
