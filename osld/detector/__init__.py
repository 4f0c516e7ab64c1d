"""Class-agnostic logo detectors. Inference needs only onnxruntime, numpy and OpenCV."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from osld.types import Detections


class Detector(Protocol):
    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """RGB uint8 (h, w, 3) images -> one ``Detections`` per image, boxes in that image's pixels."""
        ...


def load_detector(spec: str | Path, **kwargs) -> Detector:
    """A detector from an ONNX file path (keyword arguments go to ``OnnxDetector``; ``None`` values dropped)."""
    from osld.detector.onnx import OnnxDetector

    return OnnxDetector(spec, **{k: v for k, v in kwargs.items() if v is not None})


__all__ = ["Detector", "load_detector"]
