"""``Detections``: the one columnar type that flows between detector, matcher, writers and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

UNKNOWN = "unknown"


def _as_array(value: Any, dtype: Any, shape_tail: tuple[int, ...], name: str, n: int | None) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.size == 0 and n in (None, 0):
        arr = arr.reshape((0, *shape_tail))
    if arr.shape[1:] != shape_tail or (n is not None and arr.shape[0] != n):
        expected = ("n" if n is None else n, *shape_tail)
        raise ValueError(f"Detections.{name}: expected shape {expected}, got {arr.shape}")
    return arr


@dataclass
class Detections:
    """Boxes in one image, with optional brand matches.

    Attributes:
        xyxy: float32 (n, 4) boxes in original-image pixels, ``x1, y1, x2, y2``.
        score: float32 (n,) detector confidence in [0, 1].
        brand: object (n,) matched brand name or ``"unknown"``; all ``"unknown"`` before matching.
        sim: float32 (n,) cosine similarity of the best registry match (NaN before matching).
        emb: optional float32 (n, d) L2-normalized region embeddings; ``Pipeline`` always fills it, with a row of
            zeros for a box too small to embed (``MatchConfig.min_crop_px``). None before embedding.
        alternatives: per-box list of ``(brand, sim)`` top-k brands, best first.
        metadata: facts about the whole image (``image``, ``width``, ``height``).
        text: per box ``(text read, brand best matched by that text or None, its text score)`` when text was
            read (``Pipeline(text=...)``), else None.
        confidence: float32 (n,) the ranking score: for a named region the calibrated probability that the brand
            is right (detector score and match evidence, ``osld.calibration.confidence``); for an ``unknown``
            region, and before matching, the detector score.
    """

    xyxy: np.ndarray
    score: np.ndarray
    brand: np.ndarray | None = None
    sim: np.ndarray | None = None
    emb: np.ndarray | None = None
    alternatives: list[list[tuple[str, float]]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    text: list[tuple[str, str | None, float]] | None = None
    confidence: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.xyxy = _as_array(self.xyxy, np.float32, (4,), "xyxy", None)
        n = len(self.xyxy)
        self.score = _as_array(self.score, np.float32, (), "score", n)
        if self.brand is None:
            self.brand = np.array([UNKNOWN] * n, dtype=object)
        else:
            self.brand = _as_array(self.brand, object, (), "brand", n)
        self.sim = np.full(n, np.nan, np.float32) if self.sim is None else _as_array(self.sim, np.float32, (), "sim", n)
        if self.emb is not None:
            self.emb = np.asarray(self.emb, dtype=np.float32)
            if self.emb.ndim != 2 or len(self.emb) != n:
                raise ValueError(f"Detections.emb: expected shape ({n}, d), got {self.emb.shape}")
        if self.confidence is None:
            self.confidence = self.score.copy()
        else:
            self.confidence = _as_array(self.confidence, np.float32, (), "confidence", n)
        if self.alternatives is None:
            self.alternatives = [[] for _ in range(n)]
        elif len(self.alternatives) != n:
            raise ValueError(f"Detections.alternatives: expected {n} lists, got {len(self.alternatives)}")
        if self.text is not None and len(self.text) != n:
            raise ValueError(f"Detections.text: expected {n} entries, got {len(self.text)}")

    @classmethod
    def empty(cls, **metadata: Any) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), metadata=dict(metadata))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | list[int] | np.ndarray) -> Detections:
        """Numpy-style indexing (int, slice, int list, bool mask) that returns a ``Detections``."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return Detections(
            xyxy=self.xyxy[idx],
            score=self.score[idx],
            brand=self.brand[idx],
            sim=self.sim[idx],
            emb=None if self.emb is None else self.emb[idx],
            alternatives=[self.alternatives[i] for i in idx],
            metadata=dict(self.metadata),
            text=None if self.text is None else [self.text[i] for i in idx],
            confidence=self.confidence[idx],
        )

    def scaled(self, factor: float, width: float | None = None, height: float | None = None) -> Detections:
        """A copy with boxes multiplied by ``factor`` (and clipped to ``width`` x ``height`` when given)."""
        xyxy = self.xyxy * np.float32(factor)
        if width is not None and height is not None:
            xyxy = np.clip(xyxy, 0, np.array([width, height, width, height], np.float32))
        return Detections(xyxy, self.score, self.brand, self.sim, self.emb, self.alternatives, dict(self.metadata),
                          self.text, self.confidence)

    @property
    def is_known(self) -> np.ndarray:
        """Bool (n,): the box was matched to a registered brand."""
        return np.array([b != UNKNOWN for b in self.brand], dtype=bool)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per box (the ``detections`` list of the JSONL output)."""
        records = []
        for i in range(len(self)):
            sim = float(self.sim[i])
            records.append(
                {
                    "box": [round(float(v), 2) for v in self.xyxy[i]],
                    "confidence": round(float(self.confidence[i]), 4),
                    "score": round(float(self.score[i]), 4),
                    "brand": str(self.brand[i]),
                    "similarity": None if np.isnan(sim) else round(sim, 4),
                    "alternatives": [{"brand": b, "similarity": round(float(s), 4)} for b, s in self.alternatives[i]],
                }
            )
            if self.text is not None:
                text, text_brand, text_score = self.text[i]
                records[-1].update(text=text, text_brand=text_brand, text_score=round(float(text_score), 4))
        return records
