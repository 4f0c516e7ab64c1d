"""Region embeddings saved beside a results file (``osld detect --save-embeddings``), and re-embedding from results.

File format: a NumPy ``.npz`` archive (``np.load`` reads it whatever its name ends with) holding

    image      (n,) str      image path of each region, exactly as in the results file's ``image`` field
    det        (n,) int32    index of the region in that image's ``detections`` list
    xyxy       (n, 4) f32    box in original-image pixels
    brand      (n,) str      the brand the run gave it (``unknown`` when unmatched)
    embedding  (n, dim) f32  L2-normalized region embedding (all zeros: the box was too small to embed)
    images     (m,) str      every image the file covers, also those without detections
    embedder   ()  str       SHA-256 fingerprint of the embedder that made them

It is rewritten whole, atomically, at most every ``checkpoint_seconds`` and when the run ends (also on an error or
Ctrl-C). A run killed between checkpoints leaves images in the results that the file does not cover; the next
``--resume`` re-embeds just those from their boxes in the results (no detector pass), so the two stay consistent.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osld._io import atomic_write_bytes
from osld.calibration import NamingDefaults
from osld.data.images import load_image
from osld.embedder import Embedder
from osld.errors import OsldError
from osld.pipeline import MatchConfig, embeddable
from osld.types import Detections

log = logging.getLogger("osld")


@dataclass
class Regions:
    """Detected regions with their embeddings (what an embeddings file holds), one row per region."""

    image: np.ndarray  # (n,) str
    det: np.ndarray  # (n,) int32
    xyxy: np.ndarray  # (n, 4) float32
    brand: np.ndarray  # (n,) str
    embedding: np.ndarray  # (n, dim) float32
    images: list[str]
    embedder: str = ""

    def __len__(self) -> int:
        return len(self.image)

    def select(self, mask: np.ndarray) -> Regions:
        return Regions(self.image[mask], self.det[mask], self.xyxy[mask], self.brand[mask], self.embedding[mask],
                       sorted(set(self.image[mask].tolist())), self.embedder)

    @classmethod
    def concat(cls, parts: list[Regions], dim: int, embedder: str) -> Regions:
        if not parts:
            return cls(np.zeros(0, str), np.zeros(0, np.int32), np.zeros((0, 4), np.float32), np.zeros(0, str),
                       np.zeros((0, dim), np.float32), [], embedder)
        return cls(np.concatenate([p.image for p in parts]).astype(str), np.concatenate([p.det for p in parts]),
                   np.concatenate([p.xyxy for p in parts]), np.concatenate([p.brand for p in parts]).astype(str),
                   np.concatenate([p.embedding for p in parts]), [i for p in parts for i in p.images], embedder)


def regions_of(image: str, detections: Detections, dim: int, embedder: str = "") -> Regions:
    n = len(detections)
    emb = detections.emb if detections.emb is not None else np.zeros((n, dim), np.float32)
    return Regions(np.array([image] * n, dtype=str), np.arange(n, dtype=np.int32),
                   np.asarray(detections.xyxy, np.float32).reshape(n, 4), np.array(detections.brand, dtype=str),
                   np.asarray(emb, np.float32).reshape(n, dim), [image], embedder)


def save_regions(path: str | Path, regions: Regions) -> Path:
    buf = io.BytesIO()
    np.savez(buf, image=regions.image.astype(str), det=regions.det.astype(np.int32),
             xyxy=regions.xyxy.astype(np.float32), brand=regions.brand.astype(str),
             embedding=regions.embedding.astype(np.float32), images=np.array(regions.images, dtype=str),
             embedder=np.array(regions.embedder))
    return atomic_write_bytes(path, buf.getvalue())


def load_regions(path: str | Path) -> Regions:
    """Read an embeddings file; raises ``OsldError`` with a one-line reason when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return Regions(z["image"].astype(str), z["det"].astype(np.int32), z["xyxy"].astype(np.float32),
                           z["brand"].astype(str), z["embedding"].astype(np.float32), z["images"].tolist(),
                           str(z["embedder"]))
    except (OSError, ValueError, KeyError) as e:
        raise OsldError(f"{path}: not an osld embeddings file ({e})") from None


def read_results(path: str | Path) -> list[dict]:
    """Records of a JSONL results file (a torn last line is skipped)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        raise OsldError(f"{path}: discover reads JSONL results (osld detect --format jsonl)")
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and "image" in rec:
                    records.append(rec)
    except OSError as e:
        raise OsldError(f"{path}: cannot read results ({e.strerror or e})") from None
    return records


def embed_records(records: Iterable[dict], embedder: Embedder, match: MatchConfig | None = None,
                  max_side: int | None = 1024, naming: NamingDefaults | None = None) -> Regions:
    """Regions of JSONL records, embedded from their boxes the way ``Pipeline`` does (same decode size, crop rule and
    minimum size, ``naming.min_side_px`` included); an image that no longer decodes is skipped with a warning."""
    match, naming = match or MatchConfig(), naming or NamingDefaults.beside(embedder)
    parts = []
    for rec in records:
        dets = rec.get("detections") or []
        n = len(dets)
        xyxy = np.array([d["box"] for d in dets], np.float32).reshape(n, 4)
        emb = np.zeros((n, embedder.dim), np.float32)
        if n:
            try:
                loaded = load_image(rec["image"], max_side)
            except OsldError as e:
                log.warning("skipping %s", e)
                continue
            boxes = xyxy * loaded.scale
            ok = embeddable(boxes, match, naming)
            if len(ok):
                emb[ok] = embedder.embed(match.crops(loaded.pixels, boxes[ok]))
        parts.append(Regions(np.array([rec["image"]] * n, dtype=str), np.arange(n, dtype=np.int32), xyxy,
                             np.array([d.get("brand", "unknown") for d in dets], dtype=str), emb, [rec["image"]],
                             embedder.fingerprint))
    return Regions.concat(parts, embedder.dim, embedder.fingerprint)


class EmbeddingWriter:
    """Collects region embeddings during ``osld detect`` and writes them atomically (see the module docstring).

    Args:
        path: the embeddings file.
        embedder: the run's embedder (its fingerprint is stored; ``dim`` shapes empty rows).
        resume: keep what an existing file holds for images in ``done`` (the results file's images); images of
            ``done`` it does not cover are re-embedded from ``done_records``.
    """

    def __init__(self, path: str | Path, embedder: Embedder, resume: bool = False,
                 done_records: list[dict] | None = None, checkpoint_seconds: float = 60.0):
        self.path = Path(path)
        self.dim, self.fingerprint = embedder.dim, embedder.fingerprint
        self.checkpoint_seconds = checkpoint_seconds
        self._parts: list[Regions] = []
        if resume:
            records = done_records or []
            done = {r["image"] for r in records}
            covered: set[str] = set()
            if self.path.exists():
                old = load_regions(self.path)
                if old.embedder == self.fingerprint:
                    old = Regions(*(a[np.isin(old.image, list(done))] for a in (old.image, old.det, old.xyxy,
                                    old.brand, old.embedding)), [i for i in old.images if i in done], old.embedder)
                    self._parts.append(old)
                    covered = set(old.images)
                else:
                    log.warning("%s was made by another embedder; re-embedding the finished images", self.path)
            missing = [r for r in records if r["image"] not in covered]
            if missing:
                log.info("re-embedding %d finished image(s) missing from %s", len(missing), self.path)
                self._parts.append(embed_records(missing, embedder))
        self._written_at = time.monotonic()

    def add(self, image: str | Path, detections: Detections | None) -> None:
        if detections is None:  # failed image: covered, without regions
            detections = Detections.empty()
        self._parts.append(regions_of(str(image), detections, self.dim, self.fingerprint))
        if time.monotonic() - self._written_at >= self.checkpoint_seconds:
            self.write()

    def write(self) -> Path:
        merged = Regions.concat(self._parts, self.dim, self.fingerprint)
        self._parts = [merged]
        self._written_at = time.monotonic()
        return save_regions(self.path, merged)

    def __enter__(self) -> EmbeddingWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.write()
