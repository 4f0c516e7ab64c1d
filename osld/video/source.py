"""Video frames as RGB arrays with a frame index and a timestamp, decoded with OpenCV's ``VideoCapture``.

Why OpenCV and not PyAV: ``opencv-python-headless`` is already a core dependency and its wheel bundles FFmpeg,
so mp4/mov/mkv/webm/avi decode with no new package; osld only needs frames in order, which ``grab()`` /
``retrieve()`` give, with the costly colour conversion done only for the sampled frames. PyAV would add a second
FFmpeg build (~30 MB) for per-packet timestamps and finer error messages that a sampler at a few frames per
second does not need.

Timestamps are ``frame / fps`` (the container's average frame rate): exact for constant-frame-rate video and
deterministic, which ``--resume`` relies on to continue at the same frames.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from osld.errors import OsldError

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})


class VideoReadError(OsldError, ValueError):
    """A file could not be decoded as a video (empty, truncated, audio-only, unsupported codec)."""


@dataclass(frozen=True)
class Frame:
    """One sampled frame: ``pixels`` is RGB uint8 (h, w, 3); ``time_s`` = ``index / fps`` of the video."""

    index: int
    time_s: float
    pixels: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    n_frames: int  # the container's estimate; 0 when unknown
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps if self.fps > 0 else 0.0


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def split_inputs(inputs: Iterable[str | os.PathLike]) -> tuple[list[Path], list[Path]]:
    """Split CLI inputs into video files (explicit, or found in folders, sorted) and the remaining inputs."""
    videos: list[Path] = []
    rest: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            rest.append(item)
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                videos.extend(Path(root) / f for f in sorted(files) if not f.startswith(".") and is_video(f))
        elif is_video(item):
            videos.append(item)
        else:
            rest.append(item)
    return videos, rest


def sampled(index: int, native_fps: float, fps: float) -> bool:
    """Whether frame ``index`` is kept when sampling ``fps`` frames per second (0: every frame).

    A frame is kept when it is the first one of a new ``1/fps`` interval, so the kept frames are the same
    whatever frame decoding starts from.
    """
    if fps <= 0 or fps >= native_fps:
        return True
    return index == 0 or math.floor(index * fps / native_fps) > math.floor((index - 1) * fps / native_fps)


def open_video(path: str | os.PathLike) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open ``path``; raise ``VideoReadError`` with one clear line when it holds no decodable video stream."""
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise VideoReadError(f"{path}: cannot open as a video (truncated or damaged file, no video stream, or an "
                             "unsupported container/codec)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    info = VideoInfo(path, fps, max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
                     int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0))
    if not fps > 0 or info.width <= 0 or info.height <= 0:
        cap.release()
        raise VideoReadError(f"{path}: no video stream (audio-only file?) or unknown frame rate")
    return cap, info


def probe(path: str | os.PathLike) -> VideoInfo:
    cap, info = open_video(path)
    cap.release()
    return info


def iter_frames(path: str | os.PathLike, fps: float = 2.0, start: int = 0) -> Iterator[Frame]:
    """Yield the sampled frames of ``path`` in order, from frame index ``start`` on.

    Args:
        path: a video file.
        fps: frames kept per second of video; 0 (or more than the video's rate) keeps every frame.
        start: first frame index that may be yielded (``--resume`` passes the last written one + 1). Earlier
            frames are still decoded (``grab``), because seeking is only keyframe-accurate in many files.

    Raises:
        VideoReadError: the file cannot be opened, has no decodable frame, or decoding stops well before the
            container's frame count (a truncated file); frames read before that point were already yielded.
    """
    cap, info = open_video(path)
    index = 0
    try:
        while cap.grab():
            if index >= start and sampled(index, info.fps, fps):
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    raise VideoReadError(f"{info.path}: frame {index} cannot be decoded")
                yield Frame(index, index / info.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        cap.release()
    if index == 0:
        raise VideoReadError(f"{info.path}: no decodable video frame (unsupported codec or damaged file)")
    # the container's count is an estimate (duration x rate): only a clear shortfall means a cut file
    if info.n_frames and index < 0.95 * info.n_frames - 2:
        raise VideoReadError(f"{info.path}: decoding stopped at frame {index} of {info.n_frames} "
                             "(truncated or damaged file)")
