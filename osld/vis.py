"""Annotated images: boxes with brand and confidence. OpenCV's built-in Hershey font, so no font file is needed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from osld._io import atomic_write_bytes
from osld.errors import OsldError
from osld.types import UNKNOWN, Detections


def _colour(brand: str) -> tuple[int, int, int]:
    if brand == UNKNOWN:
        return (160, 160, 160)
    h = hashlib.md5(brand.encode()).digest()
    return (64 + h[0] % 192, 64 + h[1] % 192, 64 + h[2] % 192)


def box_label(detections: Detections, i: int) -> str:
    """``brand 87%``: the region's confidence (for a named region the calibrated probability that the brand is
    right). Not the cosine similarity, which reads like one but is not (0.62 can be a sure match)."""
    brand = str(detections.brand[i])
    return brand if brand == UNKNOWN else f"{brand} {detections.confidence[i]:.0%}"


def annotate(image: np.ndarray, detections: Detections, show_labels: bool = True) -> np.ndarray:
    """A copy of RGB ``image`` with ``detections`` (in its pixel frame) drawn on it."""
    out = np.ascontiguousarray(image.copy())
    thick = max(1, round(max(out.shape[:2]) / 400))
    scale = max(0.4, max(out.shape[:2]) / 1200)
    for i, ((x1, y1, x2, y2), brand) in enumerate(zip(detections.xyxy, detections.brand, strict=True)):
        colour = _colour(str(brand))
        p1, p2 = (int(x1), int(y1)), (int(x2), int(y2))
        cv2.rectangle(out, p1, p2, colour, thick)
        if show_labels:
            label = box_label(detections, i)
            label = label.encode("ascii", "replace").decode()  # Hershey fonts draw ASCII only
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            ty = p1[1] - 4 if p1[1] - th - 4 > 0 else p2[1] + th + 4
            cv2.rectangle(out, (p1[0], ty - th - 2), (p1[0] + tw + 2, ty + base - 2), colour, -1)
            cv2.putText(out, label, (p1[0] + 1, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick,
                        cv2.LINE_AA)
    return out


def save_annotated(image: np.ndarray, detections: Detections, out_dir: str | Path, name: str,
                   scale: float = 1.0) -> Path:
    """Write ``annotate(image, detections)`` as ``out_dir/<name>.jpg`` atomically; returns the path.

    ``scale`` maps the boxes onto ``image`` when it was decoded at reduced size (``LoadedImage.scale``).
    """
    if scale != 1.0:
        detections = detections.scaled(scale)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{Path(name).stem}.jpg"
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(annotate(image, detections), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OsldError(f"{target}: could not encode the annotated image")
    return atomic_write_bytes(target, jpg.tobytes())


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB picture (contact sheet, plot) as PNG atomically; returns the path."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OsldError(f"{path}: could not encode PNG")
    return atomic_write_bytes(path, data.tobytes())
