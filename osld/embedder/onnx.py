"""ONNX Runtime inference for the SDML embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osld._onnx import create_session, file_sha256
from osld.embedder.preprocess import batch_inputs
from osld.errors import ModelLoadError


class OnnxEmbedder:
    """Runs ``embedder.onnx``: input ``images`` (n, 3, s, s) float32 RGB 0..255, output (n, d) embeddings.

    ``fingerprint`` (the file's SHA-256) identifies the model in registry indexes, so an index built with another
    embedder is detected and rebuilt.
    """

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, batch_size: int = 32):
        self.path = Path(path)
        self.session = create_session(self.path, device=device, threads=threads)
        inp = self.session.get_inputs()[0]
        out = self.session.get_outputs()[0]
        if len(inp.shape) != 4 or not isinstance(inp.shape[2], int) or inp.shape[2] != inp.shape[3]:
            raise ModelLoadError(f"{self.path}: expected a square image input (n, 3, s, s), got {inp.shape}")
        if len(out.shape) != 2 or not isinstance(out.shape[1], int):
            raise ModelLoadError(f"{self.path}: expected an (n, d) embedding output, got {out.shape}")
        self.input_name = inp.name
        self.size = int(inp.shape[2])
        self.dim = int(out.shape[1])
        self.batch_size = batch_size
        self.fingerprint = file_sha256(self.path)

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """RGB uint8 (h, w, 3) crops -> float32 (n, dim), L2-normalized."""
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        outs = []
        for i in range(0, len(crops), self.batch_size):
            x = batch_inputs(crops[i: i + self.batch_size], self.size)
            outs.append(self.session.run(None, {self.input_name: x})[0])
        emb = np.concatenate(outs).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-12)
        return emb
