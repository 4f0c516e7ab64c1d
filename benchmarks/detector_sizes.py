"""Detector input size and tiling: real-photo recall against detection time (issue 11, item 4).

For each ``--imgsz`` and ``--tile`` setting of the shipped (or given) detector ONNX: with ``--recall``, recall@IoU0.5
at the shipped confidence, by logo size, among each photo's 5 best proposals, and AP50 on the fixed never-trained-on
20 % of each real set (``osld evaluate detector --real-dir`` does the same per setting); always, the detection time
per image (letterbox + ONNX + NMS, decoded pixels in memory) in batches of 8 and one at a time, median of
``--repeats`` passes over the first ``--n-time`` yologo validation photos.

    PYTHONPATH=$PWD python benchmarks/detector_sizes.py --imgsz 320 416 480 640 --tile 1 2 --recall --json sizes.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from osld.data.images import load_image
from osld.data.yolo import yologo_split
from osld.detector import load_detector
from osld.detector.evaluate import SIZE_BUCKETS, evaluate_detector
from osld.pipeline import default_weights_dir

REAL_SETS = ("yologo", "logodet3k_clothes", "beerjp", "tdtu")


def time_detect(det, pixels: list[np.ndarray], batch_size: int, repeats: int) -> float:
    """Median ms per image over ``repeats`` passes of ``pixels`` in batches of ``batch_size``."""
    det.detect(pixels[:batch_size])  # warm-up: ONNX Runtime allocates its arenas on the first call
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for start in range(0, len(pixels), batch_size):
            det.detect(pixels[start: start + batch_size])
        runs.append((time.perf_counter() - t) * 1000 / len(pixels))
    return float(np.median(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detector", type=Path, default=default_weights_dir() / "detector.onnx")
    ap.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "real")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320, 416, 480, 640])
    ap.add_argument("--tile", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--recall", action="store_true", help="also measure recall on the real val parts (slow)")
    ap.add_argument("--n-time", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    sets = {name: yologo_split(args.real / name)[1] for name in REAL_SETS if (args.real / name).is_dir()}
    timing = [load_image(p).pixels for p in sets["yologo"][: args.n_time]]
    report = {"detector": str(args.detector), "load_1min_start": os.getloadavg()[0], "rows": []}
    buckets = [b[2] for b in SIZE_BUCKETS]
    for imgsz in args.imgsz:
        for tile in args.tile:
            det = load_detector(args.detector, conf=0.01, imgsz=imgsz, tile=tile, threads=args.threads)
            row = {"imgsz": imgsz, "tile": tile,
                   "ms_per_image_b8": round(time_detect(det, timing, 8, args.repeats), 1),
                   "ms_per_image_b1": round(time_detect(det, timing, 1, args.repeats), 1)}
            if args.recall:
                row["sets"] = {name: evaluate_detector(det, images, conf=det.default_conf, progress=False)
                               for name, images in sets.items()}
            report["rows"].append(row)
            line = f"imgsz {imgsz} tile {tile}: detect {row['ms_per_image_b8']} ms/img b8, {row['ms_per_image_b1']} b1"
            for name, r in row.get("sets", {}).items():
                by = "/".join(f"{r['recall_by_size'][b]['recall']:.2f}" for b in buckets)
                line += (f" | {name} R {r['recall@0.5']:.3f} top5 {r['recall@0.5_top5']:.3f} AP50 {r['ap50']:.3f}"
                         f" by size {by}")
            print(line, flush=True)
    report["load_1min_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
