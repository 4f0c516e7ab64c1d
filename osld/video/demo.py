"""Render a clip with known logo exposure: a camera panning and zooming over a photo, logos moving on top.

Used by the tests and the video benchmark (ground truth for the exposure report); written with OpenCV's
``VideoWriter`` (``mp4v`` works in the headless wheel).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ClipLogo:
    """A logo on screen from ``t0`` to ``t1`` seconds, its centre and width (fractions of the frame) moving
    linearly from ``start`` to ``end``; during ``hidden`` (t_a, t_b) a grey bar covers ``hidden_frac`` of it."""

    brand: str
    image: str | os.PathLike
    t0: float
    t1: float
    start: tuple[float, float, float]  # cx, cy, width as fractions of the frame
    end: tuple[float, float, float]
    hidden: tuple[float, float] | None = None
    hidden_frac: float = 0.4


def _rgba(path: str | os.PathLike) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"))


def _paste(frame: np.ndarray, logo: np.ndarray, cx: float, cy: float, width: int) -> tuple[int, int, int, int]:
    h = max(1, int(round(width * logo.shape[0] / logo.shape[1])))
    small = cv2.resize(logo, (width, h), interpolation=cv2.INTER_AREA)
    x1, y1 = int(round(cx - width / 2)), int(round(cy - h / 2))
    fx1, fy1 = max(0, x1), max(0, y1)
    fx2, fy2 = min(frame.shape[1], x1 + width), min(frame.shape[0], y1 + h)
    if fx2 <= fx1 or fy2 <= fy1:
        return (0, 0, 0, 0)
    part = small[fy1 - y1: fy2 - y1, fx1 - x1: fx2 - x1].astype(np.float32)
    # a white card behind the logo, as on a billboard (dark logos stay visible on any background)
    region = frame[fy1:fy2, fx1:fx2].astype(np.float32)
    alpha = part[..., 3:4] / 255.0
    card = np.full_like(region, 245.0)
    frame[fy1:fy2, fx1:fx2] = (alpha * part[..., :3] + (1 - alpha) * card).astype(np.uint8)
    return (fx1, fy1, fx2, fy2)


def render_clip(path: str | os.PathLike, background: str | os.PathLike, logos: list[ClipLogo], seconds: float = 10.0,
                fps: float = 10.0, size: tuple[int, int] = (640, 360), fourcc: str = "mp4v") -> dict[str, float]:
    """Write the clip to ``path``; returns each brand's true seconds on screen (union of its ``[t0, t1)``).

    The camera pans left to right and zooms in from 100% to 70% of the photo over the clip.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bg = np.asarray(Image.open(background).convert("RGB"))
    w, h = size
    # the photo, scaled so that a 100% view covers the frame's aspect ratio
    scale = max(w / bg.shape[1], h / bg.shape[0]) * 1.25
    bg = cv2.resize(bg, (int(bg.shape[1] * scale), int(bg.shape[0] * scale)), interpolation=cv2.INTER_LINEAR)
    images = {lg.image: _rgba(lg.image) for lg in logos}
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
    n = int(round(seconds * fps))
    for i in range(n):
        t = i / fps
        u = i / max(1, n - 1)
        zoom = 1.0 - 0.3 * u
        vw, vh = int(bg.shape[1] / 1.25 * zoom), int(bg.shape[0] / 1.25 * zoom)
        x0 = int((bg.shape[1] - vw) * u)
        y0 = int((bg.shape[0] - vh) * 0.5)
        frame = cv2.resize(bg[y0: y0 + vh, x0: x0 + vw], (w, h), interpolation=cv2.INTER_LINEAR)
        for lg in logos:
            if not lg.t0 <= t < lg.t1:
                continue
            a = (t - lg.t0) / max(1e-9, lg.t1 - lg.t0)
            cx, cy, lw = (s + (e - s) * a for s, e in zip(lg.start, lg.end, strict=True))
            x1, y1, x2, y2 = _paste(frame, images[lg.image], cx * w, cy * h, max(8, int(lw * w)))
            if lg.hidden and lg.hidden[0] <= t < lg.hidden[1]:
                frame[y1:y2, x1: x1 + int((x2 - x1) * lg.hidden_frac)] = 90  # something passes in front
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    truth: dict[str, float] = {}
    for brand in {lg.brand for lg in logos}:
        ivs = sorted((max(0.0, lg.t0), min(seconds, lg.t1)) for lg in logos if lg.brand == brand)
        total, end = 0.0, -1.0
        for a, b in ivs:
            if b > end:
                total += b - max(a, end)
                end = b
        truth[brand] = round(total, 4)
    return truth
