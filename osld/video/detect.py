"""Run the pipeline over sampled video frames, link the boxes into tracks, and write one record per frame.

Frames are images with a timestamp: the same ``Pipeline.process`` names the logos, ``IouTracker`` adds a
``track_id`` to each box, and a record per sampled frame is written (schema in the README):
``{"video", "frame", "time_s", "width", "height", "detections": [... "track_id"], "error"}``.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osld.errors import ConfigError, OsldError
from osld.output import ResultWriter, _repair_tail
from osld.pipeline import Pipeline
from osld.types import UNKNOWN
from osld.video.source import Frame, VideoReadError, iter_frames, probe, sampled
from osld.video.tracking import IouTracker


def error_record(path: str | Path, error: str) -> dict[str, Any]:
    return {"video": str(path), "frame": None, "time_s": None, "width": None, "height": None, "detections": [],
            "error": error}


def _prefetch(frames: Iterator[Frame], size: int) -> Iterator[Frame]:
    """Decode in a background thread while the models run (OpenCV releases the GIL while decoding)."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for f in frames:
                if stop.is_set():
                    return
                q.put(f)
            q.put(done)
        except BaseException as e:  # handed to the consumer, raised there
            q.put(e)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def detect_video(pipe: Pipeline, path: str | os.PathLike, fps: float = 2.0, batch_size: int = 8, start: int = 0,
                 tracker: IouTracker | None = None, bar: Any = None) -> Iterator[dict[str, Any]]:
    """Yield one JSON-ready record per sampled frame of ``path``, with a ``track_id`` on every box.

    Args:
        pipe: the pipeline that names logos (its registry is brought up to date once, first).
        path: a video file.
        fps: frames analysed per second of video; 0 analyses every frame.
        batch_size: frames per model call.
        start: first frame index to analyse (resume); ``tracker`` should then hold the earlier frames' state.
        tracker: links boxes across frames (default: a fresh ``IouTracker``).
        bar: optional tqdm bar, advanced by one per frame, its postfix showing seconds of video done.

    A video that cannot be decoded yields one error record (``frame`` None) and stops: never raises for it.
    Frames decoded before a truncation are yielded first.

    Example:
        >>> for rec in detect_video(Pipeline.from_pretrained(registry="logos/"), "match.mp4", fps=2):
        ...     print(rec["time_s"], [(d["brand"], d["track_id"]) for d in rec["detections"]])
    """
    tracker = tracker or IouTracker()
    if pipe.registry is not None:
        pipe.registry.sync()
    frames = _prefetch(iter_frames(path, fps=fps, start=start), 2 * batch_size)
    try:
        while True:
            batch: list[Frame] = []
            for f in frames:
                batch.append(f)
                if len(batch) == batch_size:
                    break
            if not batch:
                return
            # a model or registry error concerns the whole run, not one video: it propagates
            for f, det in zip(batch, pipe.process([f.pixels for f in batch], refresh_registry=False), strict=True):
                ids = tracker.update(det.xyxy, det.brand, f.time_s)
                dets = det.to_records()
                for d, tid in zip(dets, ids, strict=True):
                    d["track_id"] = int(tid)
                h, w = f.pixels.shape[:2]
                yield {"video": str(path), "frame": f.index, "time_s": round(f.time_s, 4), "width": w, "height": h,
                       "detections": dets, "error": None}
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"{f.time_s:.1f} s of video", refresh=False)
    except VideoReadError as e:
        yield error_record(path, str(e))
    except OsldError:
        raise
    except Exception as e:  # a decoder bug on one hostile file must not end the batch
        yield error_record(path, f"{path}: unexpected {type(e).__name__}: {e}")


def done_video_frames(out: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """Video records already in a JSONL output, by absolute video path, in file order (for ``--resume``)."""
    out = Path(out)
    done: dict[str, list[dict[str, Any]]] = {}
    if not out.exists():
        return done
    _repair_tail(out)
    with open(out, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "video" in rec:
                done.setdefault(os.path.abspath(rec["video"]), []).append(rec)
    return done


@dataclass
class VideoRunSummary:
    frames: int = 0
    failed: int = 0  # videos with an error record
    skipped: int = 0  # videos already finished (resume)
    boxes: int = 0
    brands: dict[str, int] = field(default_factory=dict)


def detect_videos(pipe: Pipeline, videos: list[Path], writer: ResultWriter, fps: float = 2.0, batch_size: int = 8,
                  resume: bool = False, progress: bool = False, on_error: Any = None) -> VideoRunSummary:
    """``osld detect`` for videos: write each sampled frame's record to ``writer`` (JSONL only), resuming at frame
    granularity from what ``writer``'s file already holds when ``resume``."""
    from tqdm import tqdm

    if videos and writer.fmt != "jsonl":
        raise ConfigError("videos are written as JSONL only (one record per frame); use --format jsonl")
    done = done_video_frames(writer.path) if resume and writer.path is not None else {}
    summary = VideoRunSummary()
    for path in videos:
        previous = done.get(os.path.abspath(path), [])
        if any(r.get("frame") is None for r in previous):  # failed before: like an image, reported once
            summary.skipped += 1
            continue
        tracker = IouTracker()
        tracker.restore(previous)
        start = max((r["frame"] for r in previous), default=-1) + 1
        total = None
        try:
            info = probe(path)
            total = sum(sampled(i, info.fps, fps) for i in range(start, info.n_frames)) or None
        except VideoReadError:
            pass  # detect_video writes the error record
        bar = tqdm(total=total, unit="frame", desc=Path(path).name, disable=not progress)
        for rec in detect_video(pipe, path, fps=fps, batch_size=batch_size, start=start, tracker=tracker, bar=bar):
            writer.write_record(rec)
            if rec["error"]:
                summary.failed += 1
                if on_error is not None:
                    on_error(rec["error"])
                continue
            summary.frames += 1
            summary.boxes += len(rec["detections"])
            for d in rec["detections"]:
                if d["brand"] != UNKNOWN:
                    summary.brands[d["brand"]] = summary.brands.get(d["brand"], 0) + 1
        bar.close()
    return summary
