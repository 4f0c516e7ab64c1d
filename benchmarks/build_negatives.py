"""Build ``osld/negatives/``: the small shipped set of impostor crops that registry calibration embeds.

Sources (all redistributable; see osld/negatives/ATTRIBUTION.md):
- detector proposals and random crops of ``../shared/data/backgrounds/clothing`` (CC0) and ``grocery`` (MIT):
  the non-logo regions a low detector threshold lets through;
- canonical logos whose image licence is CC0 (``logos/`` rows, and ``simple-icons/`` rows whose icon licence is
  empty or CC0) rendered on those backgrounds, never a brand of ``heldout_brands.txt``: logos of brands a user
  may not have registered.

Re-run only to change the set (it is shipped as JPEGs, so any future embedder re-embeds it):
    PYTHONPATH=$PWD python benchmarks/build_negatives.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from osld.data.augment import composite, crop_to_alpha, random_warp, recolor
from osld.data.images import load_image, load_rgba
from osld.data.logos import normalize_brand, read_heldout

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "osld" / "negatives"
N_PROPOSALS, N_RANDOM, N_LOGOS = 120, 60, 140


def cc0_logos(heldout: set[str]) -> list[tuple[str, Path]]:
    rows = []
    with open(SHARED / "logos" / "manifest.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            ok = (r["source"] == "logos" and r["license"] == "CC0-1.0" and not r["icon_license"]) or (
                r["source"] == "simple-icons" and r["license"] == "CC0-1.0" and r["icon_license"] in ("", "CC0-1.0"))
            key = normalize_brand(r["brand"])
            if ok and key not in heldout and normalize_brand(r["brand_name"]) not in heldout:
                rows.append((key, SHARED / "logos" / r["path"]))
    return rows


def save(img: np.ndarray, name: str) -> None:
    h, w = img.shape[:2]
    s = 128 / max(h, w)
    if s < 1:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(OUT / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def main() -> None:
    from osld.detector import load_detector
    from osld.pipeline import crop_regions, default_weights_dir

    rng = np.random.default_rng(12)
    heldout = read_heldout(SHARED / "heldout_brands.txt")
    bgs = sorted((SHARED / "backgrounds" / "clothing").glob("*.jpg")) + sorted(
        (SHARED / "backgrounds" / "grocery").glob("*.jpg"))
    rng.shuffle(bgs)
    if OUT.exists():
        for p in OUT.glob("*.jpg"):
            p.unlink()
    OUT.mkdir(parents=True, exist_ok=True)
    used: list[str] = []
    det = load_detector(default_weights_dir() / "detector.onnx", conf=0.01)
    n = 0
    for p in bgs[:200]:
        if n >= N_PROPOSALS:
            break
        img = load_image(p).pixels
        d = det.detect([img])[0]
        for crop in crop_regions(img, d.xyxy[:2], 0.1):
            if min(crop.shape[:2]) >= 12:
                save(crop, f"proposal_{n:03d}.jpg")
                used.append(p.parent.name + "/" + p.name)
                n += 1
    for i in range(N_RANDOM):
        img = load_image(bgs[200 + i]).pixels
        h, w = img.shape[:2]
        cw, ch = int(w * rng.uniform(0.1, 0.5)), int(h * rng.uniform(0.1, 0.5))
        x, y = rng.integers(0, w - cw), rng.integers(0, h - ch)
        save(img[y: y + ch, x: x + cw], f"random_{i:03d}.jpg")
        used.append(bgs[200 + i].parent.name + "/" + bgs[200 + i].name)
    logos = cc0_logos(heldout)
    picks = rng.choice(len(logos), N_LOGOS, replace=False)
    for i, k in enumerate(picks):
        brand, path = logos[k]
        bg_path = bgs[300 + i]
        bg = load_image(bg_path).pixels.copy()
        rgba = crop_to_alpha(random_warp(recolor(load_rgba(path), rng), rng))
        h, w = bg.shape[:2]
        side = int(min(h, w) * rng.uniform(0.25, 0.6))
        s = side / max(rgba.shape[:2])
        rgba = cv2.resize(rgba, (max(1, int(rgba.shape[1] * s)), max(1, int(rgba.shape[0] * s))))
        lh, lw = rgba.shape[:2]
        x, y = int(rng.integers(0, w - lw + 1)), int(rng.integers(0, h - lh + 1))
        composite(bg, rgba, x, y)
        m = 0.1
        crop = crop_regions(bg, np.array([[x, y, x + lw, y + lh]], np.float32), m)[0]
        save(crop, f"logo_{brand}_{i:03d}.jpg")
        used.append(f"{bg_path.parent.name}/{bg_path.name} + logos/{path.parent.name}/{path.name}")
    (OUT / "SOURCES.txt").write_text("\n".join(used) + "\n")
    print(f"{len(list(OUT.glob('*.jpg')))} crops in {OUT}")


if __name__ == "__main__":
    main()
