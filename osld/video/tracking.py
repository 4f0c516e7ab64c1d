"""Link detections across sampled video frames into tracks, and name a track by a vote over its frames.

A greedy IoU tracker (Bochinski et al., "High-Speed Tracking-by-Detection Without Using Image Information",
AVSS 2017) with two additions for logos sampled at a few frames per second:

* a track survives ``max_gap_s`` seconds without a match, so a logo missed or partly hidden in one sampled
  frame keeps its track;
* when the IoU is too low (a logo that moved far between two samples), a detection may still join a track of
  the same known brand whose box centre is within ``same_brand_reach`` box diagonals.

Why not ByteTrack: supervision 0.31 no longer ships it; its successor, the ``trackers`` package, pulls in
supervision, PyAV, rich and the GUI ``opencv-python`` build (which clashes with ``opencv-python-headless``). Its
Kalman motion model and low-score second pass help with crowds of similar objects moving fast at full frame
rate; logos are few, mostly rigid, and on broadcast footage move with the camera. The tests measure that this
tracker gives one track per continuous appearance on a clip with motion, zoom and partial occlusion.

Everything the tracker uses (box, brand, time) is in the JSONL output, so ``--resume`` restores its state from
the records already written and continues with the same track ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from osld.boxes import box_iou
from osld.types import UNKNOWN


@dataclass
class _Track:
    id: int
    box: np.ndarray
    brand: str
    time_s: float


class IouTracker:
    """Greedy IoU tracker over one video's sampled frames.

    Args:
        iou_thr: minimum IoU between a track's last box and a detection to link them.
        max_gap_s: a track without a match for longer than this (seconds of video) ends.
        same_brand_reach: below ``iou_thr``, a detection of the same known brand may still join a track whose box
            centre is within this many box diagonals (0 disables).

    Example:
        >>> tracker = IouTracker()
        >>> ids = tracker.update(dets.xyxy, dets.brand, time_s=0.5)   # int64 (n,), one id per box
    """

    def __init__(self, iou_thr: float = 0.3, max_gap_s: float = 1.0, same_brand_reach: float = 2.5):
        self.iou_thr = iou_thr
        self.max_gap_s = max_gap_s
        self.same_brand_reach = same_brand_reach
        self.tracks: list[_Track] = []
        self.next_id = 1

    def _expire(self, time_s: float) -> None:
        self.tracks = [t for t in self.tracks if time_s - t.time_s <= self.max_gap_s + 1e-9]

    def update(self, xyxy: np.ndarray, brand: Sequence[str], time_s: float) -> np.ndarray:
        """Assign a track id to each box of one frame (in frame order); returns int64 (n,)."""
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        self._expire(time_s)
        n = len(xyxy)
        ids = np.zeros(n, np.int64)
        if self.tracks and n:
            boxes = np.stack([t.box for t in self.tracks])
            score = box_iou(boxes, xyxy)
            score[score < self.iou_thr] = 0.0
            known = np.array([[t.brand != UNKNOWN and b != UNKNOWN for b in brand] for t in self.tracks])
            same = known & np.array([[t.brand == b for b in brand] for t in self.tracks])
            # a box named like the track is preferred over one named otherwise (a logo passing in front of
            # another); a differently named box may still continue a track (one misnamed frame), ranked lower
            score[known & ~same] *= 0.5
            if self.same_brand_reach > 0:
                ct = (boxes[:, :2] + boxes[:, 2:]) / 2
                cd = (xyxy[:, :2] + xyxy[:, 2:]) / 2
                dist = np.linalg.norm(ct[:, None] - cd[None], axis=2)
                diag = np.maximum(np.linalg.norm(boxes[:, 2:] - boxes[:, :2], axis=1)[:, None],
                                  np.linalg.norm(xyxy[:, 2:] - xyxy[:, :2], axis=1)[None])
                near = same & (dist <= self.same_brand_reach * diag) & (score == 0)
                # ranked below every IoU link (>= iou_thr / 2 even when penalized): closer is better
                score[near] = self.iou_thr * 0.49 / (1.0 + dist[near] / np.maximum(diag[near], 1e-9))
            used_t: set[int] = set()
            for flat in np.argsort(-score, axis=None, kind="stable"):
                ti, di = divmod(int(flat), n)
                if score[ti, di] <= 0:
                    break
                if ti in used_t or ids[di]:
                    continue
                used_t.add(ti)
                ids[di] = self.tracks[ti].id
        for di in range(n):
            if not ids[di]:
                ids[di] = self.next_id
                self.tracks.append(_Track(self.next_id, xyxy[di], UNKNOWN, time_s))
                self.next_id += 1
        by_id = {t.id: t for t in self.tracks}
        for di in range(n):
            t = by_id[int(ids[di])]
            t.box, t.time_s = xyxy[di], time_s
            if brand[di] != UNKNOWN:
                t.brand = str(brand[di])
        return ids

    def restore(self, records: Iterable[dict]) -> None:
        """Rebuild the state from frame records already written (``--resume``), in frame order."""
        last = None
        for rec in records:
            if rec.get("time_s") is None:
                continue
            last = float(rec["time_s"])
            for d in rec.get("detections", []):
                tid = d.get("track_id")
                if tid is None:
                    continue
                prev = next((t for t in self.tracks if t.id == tid), None)
                brand = d.get("brand", UNKNOWN)
                if brand == UNKNOWN and prev is not None:  # as update(): a track keeps its last known brand
                    brand = prev.brand
                self.tracks = [t for t in self.tracks if t.id != tid]
                self.tracks.append(_Track(int(tid), np.asarray(d["box"], np.float64), brand, last))
                self.next_id = max(self.next_id, int(tid) + 1)
        if last is not None:
            self._expire(last)


def vote_brand(brands: Sequence[str], sims: Sequence[float | None] | None = None) -> str:
    """A track's brand: the most frequent per-frame label (``unknown`` counts too), ties broken by the summed
    similarity. One misnamed frame in a track therefore does not create an appearance of another brand."""
    if not brands:
        return UNKNOWN
    counts = Counter(brands)
    sim_sum: dict[str, float] = {}
    for i, b in enumerate(brands):
        s = sims[i] if sims is not None else None
        sim_sum[b] = sim_sum.get(b, 0.0) + (float(s) if s is not None else 0.0)
    return max(counts, key=lambda b: (counts[b], sim_sum[b], b != UNKNOWN))
