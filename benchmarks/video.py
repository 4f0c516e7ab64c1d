"""Video benchmark: decode + detect frames/s on a generated 720p clip, and how well tracks follow the logos.

    python benchmarks/video.py [--seconds 30] [--json work/bench_video.json]

The clip (``osld.video.demo.render_clip``): 1280x720 at 30 fps, mp4v, a camera panning and zooming over a demo
photo, four demo logos with known time on screen: one slow, one zooming, one partly hidden for a while, and one
crossing the whole frame in 3 s (at 2 fps it moves more than its own width between two samples). Measured:

* decode only (every frame grabbed, sampled ones converted to RGB) and decode + detect + track + JSONL record at
  ``--fps`` 1, 2 and 5: analysed frames per second of wall time, and seconds of video per second of wall time;
* per logo: tracks per continuous appearance (1.0 is perfect) and the report's seconds on screen vs the truth,
  for this tracker and for plain IoU (no same-brand link).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from osld.pipeline import Pipeline
from osld.report import exposure
from osld.video import IouTracker, detect_video, iter_frames
from osld.video.demo import ClipLogo, render_clip

DEMO = Path(__file__).resolve().parents[1] / "datasets" / "demo"


def clip_logos(seconds: float) -> list[ClipLogo]:
    s = seconds / 30.0  # the layout is written for 30 s and scales with --seconds
    logo = lambda b: DEMO / "logos" / b / "logos.png"  # noqa: E731
    return [
        ClipLogo("spotify", logo("spotify"), 2 * s, 20 * s, (0.2, 0.3, 0.12), (0.5, 0.35, 0.15),
                 hidden=(8 * s, 10 * s)),
        ClipLogo("github", logo("github"), 6 * s, 26 * s, (0.8, 0.7, 0.06), (0.7, 0.6, 0.2)),
        ClipLogo("python", logo("python"), 12 * s, 15 * s, (0.05, 0.8, 0.1), (0.95, 0.8, 0.1)),  # fast crossing
        ClipLogo("nvidia", logo("nvidia"), 21 * s, 29 * s, (0.3, 0.75, 0.18), (0.35, 0.75, 0.18)),
    ]


def run(seconds: float, rates: list[float], threads: int | None, records_dir: Path | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="osld_bench_video_"))
    clip = tmp / "clip720.mp4"
    truth = render_clip(clip, DEMO / "images" / "car_toyota.jpg", clip_logos(seconds), seconds=seconds, fps=30.0,
                        size=(1280, 720))
    pipe = Pipeline.from_pretrained(registry=DEMO / "logos", threads=threads)
    pipe.registry.sync()
    res: dict = {"clip": {"path": str(clip), "size": "1280x720", "fps": 30.0, "seconds": seconds, "codec": "mp4v"},
                 "truth": truth, "load_avg_start": os.getloadavg()[0], "cpus": os.cpu_count(), "runs": {}}
    for fps in rates:
        t = time.perf_counter()
        n = sum(1 for _ in iter_frames(clip, fps=fps))
        dec = time.perf_counter() - t
        out = {"decode_only_frames_per_s": n / dec, "decode_only_video_s_per_s": seconds / dec}
        t = time.perf_counter()
        recs = list(detect_video(pipe, clip, fps=fps))
        wall = time.perf_counter() - t
        if records_dir is not None:  # input of benchmarks/video_trackers.py
            records_dir.mkdir(parents=True, exist_ok=True)
            (records_dir / f"clip720_fps{fps:g}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        # the same detections re-linked by plain IoU (the tracker reads only what the records hold)
        plain, tracker = copy.deepcopy(recs), IouTracker(same_brand_reach=0)
        for r in plain:
            ids = tracker.update(np.array([d["box"] for d in r["detections"]]).reshape(-1, 4),
                                 [d["brand"] for d in r["detections"]], r["time_s"])
            for d, tid in zip(r["detections"], ids, strict=True):
                d["track_id"] = int(tid)
        for name, rs in {"osld": recs, "iou_only": plain}.items():
            rep = {r.brand: r for r in exposure(rs).brands}
            per = {}
            for b, true_s in truth.items():
                row = rep.get(b)
                per[b] = {"appearances": row.appearances if row else 0,
                          "seconds": row.seconds_on_screen if row else 0.0, "true_seconds": true_s}
            out[name] = {"frames": len(rs), "frames_per_s": len(rs) / wall, "video_s_per_s": seconds / wall,
                         "per_brand": per}
        res["runs"][str(fps)] = out
    res["load_avg_end"] = os.getloadavg()[0]
    return res


def table(res: dict) -> str:
    lines = ["| --fps | frames | decode only, frames/s | decode+detect+track, frames/s | video s per wall s |",
             "|---|---|---|---|---|"]
    for fps, r in res["runs"].items():
        lines.append(f"| {fps} | {r['osld']['frames']} | {r['decode_only_frames_per_s']:.0f} | "
                     f"{r['osld']['frames_per_s']:.2f} | {r['osld']['video_s_per_s']:.2f} |")
    lines += ["", "| --fps | brand | true s | osld: s / appearances | plain IoU: s / appearances |",
              "|---|---|---|---|---|"]
    for fps, r in res["runs"].items():
        for b, p in r["osld"]["per_brand"].items():
            q = r["iou_only"]["per_brand"][b]
            lines.append(f"| {fps} | {b} | {p['true_seconds']:.1f} | {p['seconds']:.1f} / {p['appearances']} | "
                         f"{q['seconds']:.1f} / {q['appearances']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--fps", type=float, nargs="+", default=[1.0, 2.0, 5.0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--records", type=Path, default=None, help="Also write each --fps run's JSONL records here.")
    args = ap.parse_args()
    res = run(args.seconds, args.fps, args.threads, args.records)
    print(table(res))
    print(f"(load average {res['load_avg_start']:.1f} -> {res['load_avg_end']:.1f} on {res['cpus']} CPUs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
