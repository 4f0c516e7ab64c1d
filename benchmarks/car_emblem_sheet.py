"""A contact sheet of car brands: each brand's canonical image(s) from the catalogue beside photos of its emblem.

Shows at a glance whether the registry holds the design the photos show (``REDESIGNED_CAR_BRANDS`` in
``osld.embedder.evaluate``: the five brands whose catalogue image is the 2021-2022 redesign):

    python benchmarks/car_emblem_sheet.py --out docs/redesigned_car_emblems.jpg            # those five brands
    python benchmarks/car_emblem_sheet.py --brands volvo skoda nissan --photos 15 --out sheet.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from osld.data.images import load_image
from osld.data.logos import read_catalogue
from osld.discover.report import contact_sheet
from osld.embedder.evaluate import REDESIGNED_CAR_BRANDS, vehicle_queries

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def brand_sheet(brands: list[str], photos: int, shared: Path) -> np.ndarray:
    """One ``contact_sheet`` per brand, stacked: its catalogue images first, then its first ``photos`` photos."""
    canon: dict[str, list[Path]] = {}
    for logo in read_catalogue(shared / "logos"):
        if logo.brand in brands:
            canon.setdefault(logo.brand, []).append(logo.path)
    emblems: dict[str, list[Path]] = {}
    for brand, path in vehicle_queries(shared / "real" / "vehicle_logos"):
        emblems.setdefault(brand, []).append(path)
    sheets = []
    for brand in brands:
        files = canon.get(brand, []) + emblems.get(brand, [])[:photos]
        title = f"{brand}: {len(canon.get(brand, []))} catalogue image(s), then vehicle_logos photos"
        sheets.append(contact_sheet([load_image(f).pixels for f in files], title))
    return np.vstack(sheets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brands", nargs="+", default=sorted(REDESIGNED_CAR_BRANDS))
    ap.add_argument("--photos", type=int, default=7, help="emblem photos per brand (7 + 1 catalogue image fill a row)")
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    sheet = brand_sheet(args.brands, args.photos, args.shared)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
