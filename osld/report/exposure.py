"""Per-brand exposure from ``osld detect`` JSONL records: reads the records, never the models.

Video records (``video``, ``frame``, ``time_s``, boxes with ``track_id``): each track is named by a vote over its
frames (``vote_brand``), and a brand's time on screen is the union over its tracks of ``[first, last + dt]``,
``dt`` being the video's sampling interval, so a logo counts from the first to the last frame it was seen in,
including sampled frames in between where it was hidden or missed. Photo records (``image``): counts of images
and boxes instead of seconds.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from osld.types import UNKNOWN
from osld.video.tracking import vote_brand


@dataclass
class BrandExposure:
    """One brand's row of the report. Times are seconds of video; ``None`` where a field does not apply."""

    brand: str
    seconds_on_screen: float = 0.0  # union of the brand's track spans, over all videos
    appearances: int = 0  # video tracks + photo boxes
    frames: int = 0  # sampled video frames showing the brand
    images: int = 0  # photos showing the brand
    detections: int = 0
    mean_area_share: float = 0.0  # box area / frame area
    max_area_share: float = 0.0
    mean_score: float | None = None  # detector confidence
    mean_similarity: float | None = None
    first_seen_s: float | None = None
    last_seen_s: float | None = None
    first_image: str | None = None
    last_image: str | None = None
    best: dict[str, Any] | None = None  # source, frame, time_s, box, similarity of the best-matched box


@dataclass
class ExposureReport:
    brands: list[BrandExposure]
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)  # duration_s, sample_interval_s, frames
    intervals: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)  # video -> brand ->
    photo_hits: dict[str, list[int]] = field(default_factory=dict)  # brand -> indexes of photos showing it
    n_images: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"brands": [asdict(b) for b in self.brands], "videos": self.videos,
                "intervals": {v: {b: [list(iv) for iv in ivs] for b, ivs in d.items()} for v, d in
                              self.intervals.items()}, "n_images": self.n_images, "errors": self.errors}


def load_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a JSONL file from ``osld detect`` (a torn last line is ignored)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, -np.inf
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 1e-9:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(round(a, 4), round(b, 4)) for a, b in out]


class _Acc:
    def __init__(self, brand: str):
        self.row = BrandExposure(brand)
        self.areas: list[float] = []
        self.scores: list[float] = []
        self.sims: list[float] = []
        self.best_key = -np.inf

    def add(self, det: dict[str, Any], rec: dict[str, Any], source: str) -> None:
        w, h = rec.get("width") or 0, rec.get("height") or 0
        x1, y1, x2, y2 = det["box"]
        if w and h:
            self.areas.append(max(0.0, x2 - x1) * max(0.0, y2 - y1) / (w * h))
        if det.get("score") is not None:
            self.scores.append(float(det["score"]))
        sim = det.get("similarity")
        if sim is not None:
            self.sims.append(float(sim))
        self.row.detections += 1
        key = sim if sim is not None else det.get("score", 0.0)
        if key is not None and key > self.best_key:
            self.best_key = key
            self.row.best = {"source": source, "frame": rec.get("frame"), "time_s": rec.get("time_s"),
                             "box": det["box"], "similarity": sim, "score": det.get("score")}

    def finish(self) -> BrandExposure:
        r = self.row
        if self.areas:
            r.mean_area_share = round(float(np.mean(self.areas)), 5)
            r.max_area_share = round(float(np.max(self.areas)), 5)
        r.mean_score = round(float(np.mean(self.scores)), 4) if self.scores else None
        r.mean_similarity = round(float(np.mean(self.sims)), 4) if self.sims else None
        r.seconds_on_screen = round(r.seconds_on_screen, 3)
        return r


def exposure(records: Iterable[dict[str, Any]] | str | os.PathLike, min_track_frames: int = 1,
             include_unknown: bool = False) -> ExposureReport:
    """Per-brand exposure of ``osld detect`` records (or of a JSONL file path).

    Args:
        records: video-frame and/or photo records.
        min_track_frames: video tracks seen in fewer sampled frames are ignored (1 keeps all).
        include_unknown: also report regions no registry brand matched, as brand ``unknown``.

    Returns:
        An ``ExposureReport``: rows sorted by seconds on screen, then appearances.
    """
    if isinstance(records, (str, os.PathLike)):
        records = load_records(records)
    accs: dict[str, _Acc] = {}
    rep = ExposureReport([])

    def acc(brand: str) -> _Acc:
        return accs.setdefault(brand, _Acc(brand))

    frames_by_video: dict[str, list[dict[str, Any]]] = defaultdict(list)
    photo_index = 0
    for rec in records:
        if rec.get("error"):
            rep.errors.append(str(rec["error"]))
            continue
        if "video" in rec:
            frames_by_video[rec["video"]].append(rec)
            continue
        if "image" not in rec:
            continue
        rep.n_images += 1
        named = set()
        for det in rec.get("detections", []):
            brand = det.get("brand", UNKNOWN)
            if brand == UNKNOWN and not include_unknown:
                continue
            a = acc(brand)
            a.add(det, rec, rec["image"])
            a.row.appearances += 1
            named.add(brand)
        for brand in named:
            a = acc(brand)
            a.row.images += 1
            a.row.first_image = a.row.first_image or rec["image"]
            a.row.last_image = rec["image"]
            rep.photo_hits.setdefault(brand, []).append(photo_index)
        photo_index += 1

    for video, frames in frames_by_video.items():
        frames.sort(key=lambda r: r["frame"])
        times = np.array([r["time_s"] for r in frames], np.float64)
        dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        rep.videos[video] = {"frames": len(frames), "sample_interval_s": round(dt, 4),
                             "duration_s": round(float(times[-1]) + dt, 4)}
        tracks: dict[Any, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
        for r in frames:
            for j, det in enumerate(r.get("detections", [])):
                tid = det.get("track_id")
                tracks[tid if tid is not None else ("untracked", r["frame"], j)].append((r, det))
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        brand_frames: dict[str, set[int]] = defaultdict(set)
        for items in tracks.values():
            if len({r["frame"] for r, _ in items}) < min_track_frames:
                continue
            brand = vote_brand([d.get("brand", UNKNOWN) for _, d in items], [d.get("similarity") for _, d in items])
            if brand == UNKNOWN and not include_unknown:
                continue
            a = acc(brand)
            for r, d in items:
                a.add(d, r, video)
                brand_frames[brand].add(r["frame"])
            t0, t1 = min(r["time_s"] for r, _ in items), max(r["time_s"] for r, _ in items)
            spans[brand].append((t0, t1 + dt))
            a.row.appearances += 1
            a.row.first_seen_s = t0 if a.row.first_seen_s is None else min(a.row.first_seen_s, t0)
            a.row.last_seen_s = t1 if a.row.last_seen_s is None else max(a.row.last_seen_s, t1)
        for brand, ivs in spans.items():
            accs[brand].row.seconds_on_screen += _union_length(ivs)
            accs[brand].row.frames += len(brand_frames[brand])
        rep.intervals[video] = {b: _merge(ivs) for b, ivs in spans.items()}

    rep.brands = sorted((a.finish() for a in accs.values()),
                        key=lambda r: (-r.seconds_on_screen, -r.appearances, r.brand))
    return rep


def report_paths(out: str | os.PathLike) -> dict[str, Path]:
    out = Path(out)
    return {k: out / v for k, v in {"csv": "exposure.csv", "json": "exposure.json", "png": "timeline.png",
                                    "html": "index.html"}.items()}
