"""Measure the shipped demo: the shipped models and ``datasets/demo/logos`` at their default thresholds on
``datasets/demo/images``, against the brands ``datasets/demo/expected.csv`` lists per image.

    PYTHONPATH=$PWD python benchmarks/demo.py            # report
    PYTHONPATH=$PWD python benchmarks/demo.py --write    # also update README's demo row and docs/demo_result.jpg
    PYTHONPATH=$PWD python benchmarks/demo.py --candidates   # how the real photos were picked (needs ../shared)

A logo counts as named when its brand is among the brands named in its image; a wrong brand is a brand named in
an image that does not show it. README's demo row states "at least N of M logos named (K of R in the real
photos), no wrong brand"; ``tests/test_pipeline.py`` reads that row and fails when the models name fewer, so rerun
this with ``--write`` after replacing ``weights/*.onnx`` or ``weights/naming.json``. ``--write`` refuses to state
"no wrong brand" when a wrong brand was named. Needs no ``../shared``.

``--candidates`` measures the pool the real demo photos were picked from, with the demo registry plus a CC0
canonical image of every other emblem brand: the tdtu photos on the never-trained-on side of the fixed split
(``split_by_hash(..., 0.2)``) and the first 6 emblem crops of every vehicle-logos brand with a registry image. It
lists the candidates named right with no wrong brand (to pick from after a model change) and the totals.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "datasets" / "demo"
README = ROOT / "README.md"
PICTURE = ROOT / "docs" / "demo_result.jpg"
REAL_PREFIX = "photo_"  # datasets/make_demo.py names the real photos photo_*; the rest are composites
# README's row; tests/test_pipeline.py parses the same form
ROW = re.compile(r"^\| demo \(.*?\) \| at least \d+ of \d+ logos named \(.*?\), no wrong brand \|")


def read_expected(path: Path = DEMO / "expected.csv") -> dict[str, set[str]]:
    """``expected.csv`` (columns ``image``, ``brands`` space-separated) -> {image file name: brands it shows}."""
    with open(path, newline="", encoding="utf-8") as f:
        return {row["image"]: set(row["brands"].split()) for row in csv.DictReader(f)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="update README's demo row and docs/demo_result.jpg")
    ap.add_argument("--candidates", action="store_true", help="measure the pool the real photos were picked from")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from osld import Pipeline

    if args.candidates:
        return candidates(args.shared)

    expected = read_expected()
    with tempfile.TemporaryDirectory() as tmp:
        # a copy, so the index cache is not written into the repository
        registry = Path(tmp) / "logos"
        shutil.copytree(DEMO / "logos", registry, ignore=shutil.ignore_patterns(".osld"))
        pipe = Pipeline.from_pretrained(registry=registry)
        n_brands = len(pipe.registry.brands())
        results = {r.path.name: r for r in pipe.run(sorted((DEMO / "images").iterdir()))}
    if set(results) != set(expected):
        print(f"images and expected.csv differ: {sorted(set(results) ^ set(expected))}", file=sys.stderr)
        return 1

    named = {"all": 0, "real": 0}
    total = {"all": 0, "real": 0}
    wrong: list[str] = []
    for name, brands in sorted(expected.items()):
        r = results[name]
        found = set() if r.detections is None else {str(b) for b in r.detections[r.detections.is_known].brand}
        hit = found & brands
        wrong += [f"{name}: {b}" for b in sorted(found - brands)]
        for part in ("all", "real") if name.startswith(REAL_PREFIX) else ("all",):
            named[part] += len(hit)
            total[part] += len(brands)
        print(f"{name:28s} expected {' '.join(sorted(brands)):32s} named {' '.join(sorted(found)) or '-'}"
              + (f"  ERROR {r.error}" if r.error else ""))
    n_real = sum(name.startswith(REAL_PREFIX) for name in expected)
    row = (f"| demo ({len(expected)} images: {n_real} real photos, {len(expected) - n_real} composites; "
           f"{total['all']} logos; {n_brands}-brand registry) | at least {named['all']} of {total['all']} logos "
           f"named ({named['real']} of {total['real']} in the real photos), no wrong brand |")
    print(f"\n{named['all']} of {total['all']} logos named ({named['real']} of {total['real']} in the real photos), "
          f"wrong brands: {wrong or 'none'}")
    if not args.write:
        return 0
    if wrong:
        print("not writing: the README claims no wrong brand", file=sys.stderr)
        return 1
    lines = README.read_text(encoding="utf-8").splitlines(keepends=True)
    idx = [i for i, line in enumerate(lines) if ROW.match(line)]
    if len(idx) != 1:
        print(f"README: expected one demo row, found {len(idx)}", file=sys.stderr)
        return 1
    rest = lines[idx[0]].rstrip("\n").split(" | ", 2)[2]  # keep the command column as it is
    lines[idx[0]] = f"{row} {rest}\n"
    README.write_text("".join(lines), encoding="utf-8")
    # the scenes first, then the close-ups
    real = sorted((n for n in results if n.startswith(REAL_PREFIX)), key=lambda n: ("emblem" in n, n))
    cv2.imwrite(str(PICTURE), cv2.cvtColor(picture([results[n] for n in real]), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"updated {README.name} and {PICTURE.relative_to(ROOT)}")
    return 0


def candidates(shared: Path, per_brand: int = 6) -> int:
    """Name every candidate photo with the demo registry + the other emblem brands; print the good ones and totals."""
    from osld import Pipeline
    from osld.data.yolo import list_images, split_by_hash
    from osld.embedder.evaluate import vehicle_queries

    vroot = shared / "real" / "vehicle_logos"
    by_brand: dict[str, list[Path]] = {}
    for brand, path in vehicle_queries(vroot):
        by_brand.setdefault(brand, []).append(path)
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "logos"
        shutil.copytree(DEMO / "logos", registry, ignore=shutil.ignore_patterns(".osld"))
        with open(shared / "logos" / "manifest.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):  # CC0 only, as the demo registry
                if row["brand"] in by_brand and row["license"] == "CC0-1.0" and not (registry / row["brand"]).exists():
                    (registry / row["brand"]).mkdir()
                    shutil.copyfile(shared / "logos" / row["path"], registry / row["brand"] / f"{row['source']}.png")
        pipe = Pipeline.from_pretrained(registry=registry)
        brands = set(pipe.registry.brands())
        pool = {p: "tdtu" for p in split_by_hash(list_images(shared / "real" / "tdtu" / "images"), 0.2)[1]}
        pool.update({p: b for b in sorted(by_brand) if b in brands for p in sorted(by_brand[b])[:per_brand]})
        totals: dict[str, list[int]] = {}  # set -> [photos, named right, with a box, with a wrong brand]
        for r in pipe.run(list(pool)):
            truth, part = pool[r.path], "tdtu" if pool[r.path] == "tdtu" else "emblems"
            found = set() if r.detections is None else {str(b) for b in r.detections.brand}
            named, wrong = truth in found, bool(found - {truth, "unknown"})
            t = totals.setdefault(part, [0, 0, 0, 0])
            for k, hit in enumerate((True, named, bool(found), wrong)):
                t[k] += hit
            if named and not wrong:
                print(f"named {truth:12s} {r.path}")
    print(f"\nregistry: {len(brands)} brands")
    for part, (n, named, boxed, wrong) in totals.items():
        print(f"{part}: {named} of {n} named right, {boxed} with a box reported, {wrong} with a wrong brand")
    return 0


def picture(results: list, height: int = 220, max_width: int = 1000, gap: int = 4) -> np.ndarray:
    """The real photos, annotated at ``height`` px, packed left to right into rows at most ``max_width`` wide."""
    from osld.data.images import load_image
    from osld.vis import annotate

    tiles = []
    top, side = 22, 6  # a white margin, so the label of a box that fills the photo stays visible
    for r in results:
        image = load_image(r.path).pixels
        s = (height - top - side) / image.shape[0]
        image = cv2.resize(image, (round(image.shape[1] * s), height - top - side), interpolation=cv2.INTER_AREA)
        image = cv2.copyMakeBorder(image, top, side, side, side, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        det = r.detections.scaled(s)
        det.xyxy += np.array([side, top, side, top], np.float32)  # a copy: the result is left as it was
        tiles.append(annotate(image, det))
    rows: list[list[np.ndarray]] = [[]]
    for t in tiles:
        if rows[-1] and sum(x.shape[1] + gap for x in rows[-1]) + t.shape[1] > max_width:
            rows.append([])
        rows[-1].append(t)
    width = max(sum(x.shape[1] + gap for x in row) - gap for row in rows)
    out = np.full((len(rows) * (height + gap) - gap, width, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        x = 0
        for t in row:
            out[i * (height + gap): i * (height + gap) + height, x: x + t.shape[1]] = t
            x += t.shape[1] + gap
    return out


if __name__ == "__main__":
    raise SystemExit(main())
