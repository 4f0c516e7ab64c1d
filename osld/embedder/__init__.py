"""Logo embedders: crops -> L2-normalized vectors. Inference needs only onnxruntime, numpy and OpenCV."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    dim: int
    fingerprint: str

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """RGB uint8 crops of any size -> float32 (n, dim) L2-normalized embeddings."""
        ...


def load_embedder(spec: str | Path, **kwargs) -> Embedder:
    """An embedder from an ONNX file path (keyword arguments go to ``OnnxEmbedder``; ``None`` values dropped)."""
    from osld.embedder.onnx import OnnxEmbedder

    return OnnxEmbedder(spec, **{k: v for k, v in kwargs.items() if v is not None})


__all__ = ["Embedder", "load_embedder"]
