"""Build ``datasets/demo/`` from ``../shared`` (development only; the demo itself is committed).

Everything written is redistributable: canonical logos under CC0-1.0 (``logos/`` and ``simple-icons/`` sources
of the shared manifest), car-emblem photos from the General Blockchain vehicle-logos dataset (CC BY 4.0), real
photos of the TDTU university logo (Roboflow Universe "logo-tdtu", CC BY 4.0; one more of them, cropped to its
logo, is the ``tdtu`` registry image, as no canonical image of that logo exists), and composites of CC0 logos on
procedurally drawn backgrounds made here. ``expected.csv`` lists the brands each image shows (the test and
``benchmarks/demo.py`` read it); ``labels/`` and ``data.yaml`` hold every logo's box in the YOLO layout, so
``osld evaluate --data datasets/demo/data.yaml`` and the notebook can evaluate on the demo.

The real photos were picked (2026-11-30) among the tdtu photos on the never-trained-on side of osld's split and
the emblem photos of brands with a CC0 canonical image, as ones the shipped models name: see DEVELOPERS.md.

    python datasets/make_demo.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import cv2
import numpy as np

from osld.data.augment import composite, crop_to_alpha, random_warp
from osld.data.images import load_rgba
from osld.embedder.evaluate import vehicle_queries

HERE = Path(__file__).resolve().parent / "demo"
CAR_BRANDS = ["toyota", "volkswagen", "honda", "bmw", "hyundai", "renault"]
COMPOSITE_BRANDS = [["github", "python", "spotify"], ["docker", "firefox", "slack", "nvidia"]]
DISTRACTORS = ["apple", "adobe", "airbnb", "android", "atlassian", "audi", "bentley", "discord", "dropbox", "ebay",
               "fiat", "gitlab", "intel", "java", "kotlin", "lamborghini", "linux", "mastodon", "netflix",
               "npm", "opel", "paypal", "peugeot", "reddit", "rust", "seat", "skoda", "twitch", "ubuntu", "volvo"]
CC0 = {"CC0-1.0"}
# real photos, unchanged but for a resize to <= MAX_SIDE: (file in datasets/demo/images, source, brand)
REAL_TDTU = [("photo_tdtu_podium.jpg", "000006"), ("photo_tdtu_banner.jpg", "000091"),
             ("photo_tdtu_ceremony.jpg", "000093"), ("photo_tdtu_shirt_1.jpg", "000047"),
             ("photo_tdtu_shirt_2.jpg", "000127")]
REAL_CARS = [("photo_bmw_emblem.png", "41cd5cef1198ed2c93c8f8edd1accc135a4f5be0.png", "bmw"),
             ("photo_mazda_emblem_1.png", "44c12b18c458f1cb612fee129c34331585944732.png", "mazda"),
             ("photo_mazda_emblem_2.png", "4b6aa540a078e1eee35a61bb0fd27dddd6e98206.png", "mazda")]
TDTU_REGISTRY_PHOTO = "000082"  # a near-frontal print of the logo; its labelled box is the registry image
MAX_SIDE = 1024
TDTU_CREDIT = ("Roboflow Universe \"logo-tdtu\" (sunshine1201/logo-tdtu-aroqs v5, via "
               "https://github.com/sunshine12103/object-detection-luckfox), CC BY 4.0")


def manifest(shared: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    with open(shared / "logos" / "manifest.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["license"] in CC0 and row.get("icon_license", "") in ("", "CC0-1.0"):
                rows.setdefault(row["brand"], []).append(row)
    return rows


def procedural_background(rng: np.random.Generator, w: int = 800, h: int = 560) -> np.ndarray:
    """A wall-like scene: a colour gradient, soft noise, a few panels and stripes."""
    base = rng.integers(40, 220, 3).astype(np.float32)
    other = rng.integers(40, 220, 3).astype(np.float32)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = base * (1 - t) + other * t + rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    img = np.repeat(img, w // img.shape[1] if img.shape[1] < w else 1, axis=1)[:, :w]
    for _ in range(4):
        x1, y1 = int(rng.integers(0, w - 100)), int(rng.integers(0, h - 80))
        x2, y2 = x1 + int(rng.integers(80, 300)), y1 + int(rng.integers(60, 200))
        cv2.rectangle(img, (x1, y1), (x2, y2), rng.integers(30, 240, 3).tolist(), -1)
    for y in range(0, h, int(rng.integers(40, 90))):
        cv2.line(img, (0, y), (w, y), (img[min(y, h - 1), 0] * 0.8).tolist(), 2)
    return cv2.GaussianBlur(img.clip(0, 255).astype(np.uint8), (3, 3), 0)


Box = tuple[str, float, float, float, float]  # brand, x1, y1, x2, y2 as fractions of the image size


def fraction_box(brand: str, x1: float, y1: float, x2: float, y2: float, w: int, h: int) -> Box:
    return brand, x1 / w, y1 / h, x2 / w, y2 / h


def real_photos(shared: Path, logos: Path, boxes: dict[str, list[Box]]) -> list[str]:
    """Copy the real photos into ``images/`` (and the tdtu registry crop into ``logos/tdtu/``); their credit lines.

    Returns the registry crop's credit first, then one line per photo; fills ``boxes``."""
    troot = shared / "real" / "tdtu"
    with open(troot / "sources.csv", newline="", encoding="utf-8") as f:
        sources = {row["n"]: row for row in csv.DictReader(f)}
    img = cv2.imread(str(troot / "images" / f"{TDTU_REGISTRY_PHOTO}.jpg"))
    h, w = img.shape[:2]
    _, cx, cy, bw, bh = map(float, (troot / "labels" / f"{TDTU_REGISTRY_PHOTO}.txt").read_text().split()[:5])
    (logos / "tdtu").mkdir()
    cv2.imwrite(str(logos / "tdtu" / "photo_crop.png"),
                img[int((cy - bh / 2) * h): int((cy + bh / 2) * h), int((cx - bw / 2) * w): int((cx + bw / 2) * w)])
    credits = [f"`tdtu/photo_crop.png`: the labelled logo box of `{sources[TDTU_REGISTRY_PHOTO]['source_path']}`, "
               f"{TDTU_CREDIT}; cropped."]
    for name, n in REAL_TDTU:
        img = cv2.imread(str(troot / "images" / f"{n}.jpg"))
        s = MAX_SIDE / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(HERE / "images" / name), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        else:  # the shared copy is small enough (<= 640 px): keep its bytes
            shutil.copyfile(troot / "images" / f"{n}.jpg", HERE / "images" / name)
        boxes[name] = []
        for line in (troot / "labels_brand" / f"{n}.txt").read_text().splitlines():
            brand, cx, cy, bw, bh = line.split()[:5]
            cx, cy, bw, bh = map(float, (cx, cy, bw, bh))
            boxes[name].append((brand, cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2))
        src = sources[n]
        size = f"{img.shape[1]}x{img.shape[0]}"
        changed = (f"resized from {src['orig_w']}x{src['orig_h']} to {size}"
                   if (int(src["orig_w"]), int(src["orig_h"])) != (img.shape[1], img.shape[0]) else "original size")
        credits.append(f"- `images/{name}`: logo-tdtu `{src['source_path']}` (tdtu), {changed}")
    for name, src_name, brand in REAL_CARS:
        shutil.copyfile(shared / "real" / "vehicle_logos" / "Images" / src_name, HERE / "images" / name)
        boxes[name] = [(brand, 0.0, 0.0, 1.0, 1.0)]  # a tight crop: the emblem fills the photo
        credits.append(f"- `images/{name}`: vehicle-logos dataset `{src_name}` ({brand}), unmodified")
    return credits


def write_ground_truth(boxes: dict[str, list[Box]]) -> None:
    """``expected.csv`` (brands per image), ``labels/*.txt`` (YOLO boxes) and ``data.yaml`` (class names)."""
    with open(HERE / "expected.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image", "brands"])
        w.writerows([name, " ".join(dict.fromkeys(b[0] for b in bs))] for name, bs in sorted(boxes.items()))
    names = sorted({b[0] for bs in boxes.values() for b in bs})
    (HERE / "labels").mkdir()
    for name, bs in boxes.items():
        lines = [f"{names.index(b)} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"
                 for b, x1, y1, x2, y2 in bs]
        (HERE / "labels" / Path(name).with_suffix(".txt")).write_text("\n".join(lines) + "\n")
    (HERE / "data.yaml").write_text(
        "# the demo as a labelled set (ultralytics layout): osld evaluate --data datasets/demo/data.yaml "
        "--registry datasets/demo/logos\npath: .\nval: images\nnames:\n"
        + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args()
    shared = args.shared
    rng = np.random.default_rng(7)
    rows = manifest(shared)
    if HERE.exists():
        shutil.rmtree(HERE)
    (HERE / "images").mkdir(parents=True)
    logos = HERE / "logos"
    used = CAR_BRANDS + [b for group in COMPOSITE_BRANDS for b in group] + DISTRACTORS
    used += sorted({brand for _, _, brand in REAL_CARS} - set(used))
    for brand in used:
        for row in rows.get(brand, []):
            d = logos / brand
            d.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared / "logos" / row["path"], d / f"{row['source']}.png")
    missing = [b for b in used if not (logos / b).exists()]
    if missing:
        raise SystemExit(f"no CC0 canonical image for: {missing}")

    boxes: dict[str, list[Box]] = {}
    vroot = shared / "real" / "vehicle_logos"
    by_brand: dict[str, list[Path]] = {}
    for brand, path in vehicle_queries(vroot):
        by_brand.setdefault(brand, []).append(path)
    credits = []
    for brand in CAR_BRANDS:
        # the photos are tight crops of the emblem; shown on a larger drawn scene, as in a street photo
        src = sorted(by_brand[brand])[3]
        photo = cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2RGB)
        scene = procedural_background(rng, 640, 480)
        side = int(rng.integers(150, 200))
        s = side / max(photo.shape[:2])
        photo = cv2.resize(photo, (int(photo.shape[1] * s), int(photo.shape[0] * s)), interpolation=cv2.INTER_AREA)
        y = int(rng.integers(40, 480 - photo.shape[0] - 40))
        x = int(rng.integers(40, 640 - photo.shape[1] - 40))
        scene[y: y + photo.shape[0], x: x + photo.shape[1]] = photo
        dst = HERE / "images" / f"car_{brand}.jpg"
        boxes[dst.name] = [fraction_box(brand, x, y, x + photo.shape[1], y + photo.shape[0], 640, 480)]
        cv2.imwrite(str(dst), cv2.cvtColor(scene, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        credits.append(f"- `images/{dst.name}`: vehicle-logos dataset `{src.name}` ({brand}), resized and placed "
                       "on a procedurally drawn background")

    # a 2x2 collage of four more emblem photos: several logos in one image
    tiles = []
    for brand in CAR_BRANDS[:4]:
        src = sorted(by_brand[brand])[7]
        img = cv2.imread(str(src))
        tiles.append(cv2.copyMakeBorder(cv2.resize(img, (240, 180)), 30, 30, 30, 30, cv2.BORDER_CONSTANT,
                                        value=(200, 200, 200)))
        credits.append(f"- `images/collage_cars.jpg`: vehicle-logos dataset, `{src.name}` ({brand})")
    collage = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    boxes["collage_cars.jpg"] = [fraction_box(b, 30 + 300 * (k % 2), 30 + 240 * (k // 2), 270 + 300 * (k % 2),
                                              210 + 240 * (k // 2), *collage.shape[1::-1])
                                 for k, b in enumerate(CAR_BRANDS[:4])]
    cv2.imwrite(str(HERE / "images" / "collage_cars.jpg"), collage, [cv2.IMWRITE_JPEG_QUALITY, 92])

    for i, group in enumerate(COMPOSITE_BRANDS):
        scene = procedural_background(rng)
        h, w = scene.shape[:2]
        cols = len(group)
        name = f"composite_{i + 1}.jpg"
        boxes[name] = []
        for j, brand in enumerate(group):
            rgba = load_rgba(next((logos / brand).glob("*.png")))
            rgba = crop_to_alpha(random_warp(rgba, rng, max_rotate=10, max_perspective=0.06))
            side = int(rng.integers(110, 170))
            s = side / max(rgba.shape[:2])
            rgba = cv2.resize(rgba, (max(2, int(rgba.shape[1] * s)), max(2, int(rgba.shape[0] * s))),
                              interpolation=cv2.INTER_AREA)
            x = int((j + 0.5) * w / cols - rgba.shape[1] / 2)
            y = int(rng.integers(40, h - rgba.shape[0] - 40))
            ys, xs = np.nonzero(composite(scene, rgba, x, y) > 0.1)  # the logo's visible pixels
            boxes[name].append(fraction_box(brand, xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, w, h))
        cv2.imwrite(str(HERE / "images" / f"composite_{i + 1}.jpg"), cv2.cvtColor(scene, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
        credits.append(f"- `images/composite_{i + 1}.jpg`: made by osld's `datasets/make_demo.py` from CC0 logos "
                       f"({', '.join(group)}) on a procedurally drawn background")

    real_credits = real_photos(shared, logos, boxes)
    write_ground_truth(boxes)

    (HERE / "ATTRIBUTION.md").write_text(
        "# Demo data: sources and licences\n\n"
        "Logos are trademarks of their owners and are used here only to represent the brand.\n\n"
        "## `logos/` (canonical images, CC0-1.0, except `tdtu/`)\n"
        "`logos.png`: @iconify-json/logos (\"SVG Logos\", CC0-1.0); `simple-icons.png`: simple-icons (CC0-1.0).\n"
        "Rendered to 256 px PNGs.\n\n" + real_credits[0] + "\n\n"
        "## `images/`\n"
        "Car-emblem photos: *Vehicle Logos Dataset* by General Blockchain, Inc., CC BY 4.0 "
        "(https://creativecommons.org/licenses/by/4.0/). Modified: each `car_*.jpg` resizes one photo onto a drawn "
        "background; the collage resizes and tiles four; `photo_*_emblem.png` are unmodified.\n\n"
        f"TDTU photos (`photo_tdtu_*.jpg`): {TDTU_CREDIT} (https://creativecommons.org/licenses/by/4.0/). "
        "Modified: re-encoded as JPEG, resized where stated. Their boxes in `labels/` are the dataset's.\n\n"
        + "\n".join(credits + real_credits[1:]) + "\n")
    print(f"demo written to {HERE}: {len(list((HERE / 'images').iterdir()))} images, "
          f"{len(list(logos.iterdir()))} brands")


if __name__ == "__main__":
    main()
