"""Compare osld's IoU tracker with ByteTrack (the ``trackers`` package) on the same per-frame detections.

    pip install trackers          # not an osld dependency: only this comparison needs it
    osld detect clip.mp4 --registry logos/ --fps 2 --out clip.jsonl
    python benchmarks/video_trackers.py clip.jsonl [more.jsonl ...]

For each file: the boxes and scores of every sampled frame are fed to ByteTrack (its frame rate set to the
sampling rate, a track kept 1 s without a match like osld's ``max_gap_s``, every box above the detector's
threshold allowed to start a track), the brands are voted per track the same way, and the exposure report is
computed for both trackers: seconds on screen and appearances (tracks) per brand, and the time per frame.
"""

from __future__ import annotations

import copy
import sys
import time

import numpy as np


def bytetrack(records: list[dict], fps: float) -> tuple[list[dict], float]:
    import supervision as sv
    from trackers import ByteTrackTracker

    tracker = ByteTrackTracker(lost_track_buffer=30, frame_rate=fps, track_activation_threshold=0.25,
                               minimum_consecutive_frames=1, high_conf_det_threshold=0.25)
    out = copy.deepcopy(records)
    t = time.perf_counter()
    for rec in out:
        dets = rec["detections"]
        xyxy = np.array([d["box"] for d in dets], np.float32).reshape(-1, 4)
        tracked = tracker.update(sv.Detections(xyxy=xyxy, confidence=np.array([d["score"] for d in dets],
                                                                                 np.float32)))
        ids = [None] * len(dets)
        for box, tid in zip(tracked.xyxy, tracked.tracker_id, strict=True):
            if tid is None or tid < 0:
                continue
            j = int(np.argmin(np.abs(xyxy - box).sum(axis=1)))  # the input box it came from
            ids[j] = int(tid)
        for d, tid in zip(dets, ids, strict=True):
            d["track_id"] = tid  # a box ByteTrack did not confirm counts as its own one-frame track
    return out, (time.perf_counter() - t) / max(1, len(out))


def osld_tracker(records: list[dict]) -> tuple[list[dict], float]:
    from osld.video import IouTracker

    tracker = IouTracker()
    out = copy.deepcopy(records)
    t = time.perf_counter()
    for rec in out:
        dets = rec["detections"]
        ids = tracker.update(np.array([d["box"] for d in dets], np.float64).reshape(-1, 4),
                             [d["brand"] for d in dets], rec["time_s"])
        for d, tid in zip(dets, ids, strict=True):
            d["track_id"] = int(tid)
    return out, (time.perf_counter() - t) / max(1, len(out))


def main() -> None:
    from osld.report import exposure, load_records

    for path in sys.argv[1:]:
        records = [r for r in load_records(path) if r.get("frame") is not None]
        records.sort(key=lambda r: (r["video"], r["frame"]))
        times = [r["time_s"] for r in records]
        fps = 1.0 / float(np.median(np.diff(times)))
        rows = {}
        runs = {"osld IoU": osld_tracker(records), "ByteTrack": bytetrack(records, fps)}
        for name, (recs, per_frame) in runs.items():
            rows[name] = ({r.brand: r for r in exposure(recs).brands}, per_frame)
        print(f"\n{path} ({len(records)} frames at {fps:g} fps)")
        print("| brand | " + " | ".join(f"{n}: s / appearances" for n in rows) + " |")
        print("|---|" + "---|" * len(rows))
        brands = sorted(set().union(*(set(r) for r, _ in rows.values())))
        for b in brands:
            cells = [f"{r[b].seconds_on_screen:.1f} / {r[b].appearances}" if b in r else "-" for r, _ in rows.values()]
            print(f"| {b} | " + " | ".join(cells) + " |")
        print("| ms per frame | " + " | ".join(f"{1000 * t:.3f}" for _, t in rows.values()) + " |")


if __name__ == "__main__":
    main()
