"""What the HTTP layer calls: decode uploads, detect through the shared ``Pipeline`` (micro-batched), re-filter
per request, and change the ``Registry``. No detection or registry logic of its own."""

from __future__ import annotations

import io
import logging
import re
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from osld.calibration import confidence
from osld.data.images import LoadedImage, load_image, load_rgba
from osld.errors import ConfigError, ImageReadError, RegistryError
from osld.output import to_record
from osld.pipeline import Pipeline
from osld.registry import REGISTRY_EXTENSIONS, Registry, validate_brand
from osld.serve.batcher import MicroBatcher
from osld.types import UNKNOWN, Detections

log = logging.getLogger("osld.serve")

# Declared upload types we accept; the bytes are still decoded and checked. octet-stream: curl, scripts.
ACCEPTED_TYPES = ("image/", "application/octet-stream")


class UploadError(Exception):
    """A client error on one upload: ``status`` (4xx) and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ServeConfig:
    """Service limits and batching.

    Attributes:
        api_key: required as ``Authorization: Bearer KEY`` on writes when set.
        max_upload_mb: largest accepted file (each).
        max_files: most files per request.
        max_batch: most images per model call.
        max_wait_ms: longest an image waits for others to join its batch.
        conf_floor: the detector runs at this score threshold; requests filter above it (same boxes as running at
            their own threshold: NMS only lets a higher-scoring box suppress a lower one).
        max_top_k: alternatives searched per box; requests may ask for up to this many.
    """

    api_key: str | None = None
    max_upload_mb: float = 20.0
    max_files: int = 16
    max_batch: int = 8
    max_wait_ms: float = 5.0
    conf_floor: float = 0.05
    max_top_k: int = 10

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def safe_filename(name: str | None, default: str = "upload") -> str:
    """The last path component of a client-supplied file name, without characters that a folder cannot hold."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).lstrip(".").strip()
    return base[:120] or default


def refilter(det: Detections, conf: float, min_sim: float | None, top_k: int,
             coef: tuple[float, float, float, float] | None = None) -> Detections:
    """Keep boxes scoring >= ``conf`` and ``top_k`` alternatives each; with a ``min_sim``, rename each box from its
    alternatives at that similarity (``confidence`` recomputed with the calibration ``coef``); without one the
    pipeline's calibrated names stay."""
    d = det[np.nonzero(det.score >= conf)[0]]
    brand, confs = d.brand.copy(), d.confidence.copy()
    for i, alts in enumerate(d.alternatives):
        d.alternatives[i] = alts[:top_k]
        if alts and min_sim is not None:
            named = alts[0][1] >= min_sim
            brand[i] = alts[0][0] if named else UNKNOWN
            if not named:
                confs[i] = d.score[i]
            elif coef is not None:
                margin = alts[0][1] - (alts[1][1] if len(alts) > 1 else 0.0)
                confs[i] = confidence(d.score[i: i + 1], np.float32([alts[0][1]]), np.float32([margin]), coef)[0]
    d.brand, d.confidence = brand, confs
    return d


class Service:
    """One ``Pipeline`` (its registry included) shared by every request.

    Model calls and registry writes take one lock: a write re-indexes the registry in memory and a search must not
    see it half-done. Detection goes through a ``MicroBatcher``.
    """

    def __init__(self, pipe: Pipeline, config: ServeConfig, on_batch=None):
        if pipe.registry is None:
            raise ConfigError("osld serve needs a registry folder")
        self.pipe = pipe
        self.config = config
        self.registry: Registry = pipe.registry
        self.default_conf = float(getattr(pipe.detector, "conf", 0.25))
        self.default_top_k = min(pipe.match.top_k, config.max_top_k)
        if hasattr(pipe.detector, "conf"):
            pipe.detector.conf = min(config.conf_floor, self.default_conf)
        self.conf_floor = float(getattr(pipe.detector, "conf", self.default_conf))
        pipe.match = replace(pipe.match, top_k=max(config.max_top_k, pipe.match.top_k))
        self.lock = threading.Lock()
        self.batcher = MicroBatcher(self._detect_batch, config.max_batch, config.max_wait_ms, on_batch)
        with self.lock:
            self.registry.sync()

    @property
    def default_min_sim(self) -> float:
        """The accept similarity in force (``--min-sim``, else the registry's calibrated threshold)."""
        return self.pipe.thresholds()[0]

    def close(self) -> None:
        self.batcher.close()

    # ---------- detection ----------
    def _detect_batch(self, images: list[LoadedImage]) -> list[Detections]:
        with self.lock:
            dets = self.pipe.process([im.pixels for im in images], refresh_registry=True)
        out = []
        for det, im in zip(dets, images, strict=True):
            if im.scale != 1.0 and len(det):
                det = det.scaled(1.0 / im.scale, im.width, im.height)
            det.metadata.update(width=im.width, height=im.height)
            out.append(det)
        return out

    def decode(self, data: bytes, name: str, content_type: str | None) -> LoadedImage:
        """Bytes of one upload -> pixels, or ``UploadError`` (415 wrong type, 413 too big, 400 not decodable)."""
        ctype = (content_type or "application/octet-stream").split(";")[0].strip().lower()
        if not ctype.startswith(ACCEPTED_TYPES):
            raise UploadError(415, f"{name}: content type {ctype!r} is not an image; send image/jpeg, image/png, ...")
        if len(data) > self.config.max_upload_bytes:
            raise UploadError(413, f"{name}: {len(data):,} bytes is more than the {self.config.max_upload_mb:g} MB "
                                   f"upload limit (--max-upload-mb)")
        if not data:
            raise UploadError(400, f"{name}: empty file")
        # load_image is the decoder `osld detect` uses (size limits, bomb guard, EXIF): it reads a path
        with tempfile.TemporaryDirectory(prefix="osld-serve-") as tmp:
            path = Path(tmp) / ("upload" + Path(safe_filename(name)).suffix[:8])
            path.write_bytes(data)
            try:
                return load_image(path, self.pipe.max_side)
            except ImageReadError as e:
                raise UploadError(400, str(e).replace(str(path), name)) from e

    async def detect(self, image: LoadedImage, name: str, conf: float | None, min_sim: float | None,
                     top_k: int | None) -> dict[str, Any]:
        """The ``osld detect`` JSONL record of one decoded image at this request's thresholds."""
        det = await self.batcher(image)
        det = refilter(det, self.default_conf if conf is None else conf, min_sim,
                       self.default_top_k if top_k is None else top_k, self.pipe.naming.coef)
        return to_record(name, det, None)

    # ---------- registry ----------
    def brands(self) -> dict[str, int]:
        return self.registry.counts()

    def brand_images(self, brand: str) -> list[Path]:
        brand = validate_brand(brand)
        folder = self.registry.root / brand
        files = self.registry._images_in(folder) if folder.is_dir() else []
        if not files:
            raise RegistryError(f"brand {brand!r} is not in the registry")
        return files

    def image_file(self, brand: str, name: str) -> Path:
        """A registry image by brand and file name; only names the folder listing holds (no path tricks)."""
        for p in self.brand_images(brand):
            if p.name == name:
                return p
        raise RegistryError(f"brand {brand!r} has no image {name!r}")

    def thumbnail(self, path: Path, size: int) -> bytes:
        from PIL import Image

        img = Image.fromarray(load_rgba(path))
        img.thumbnail((size, size))
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return buf.getvalue()

    def add(self, brand: str, uploads: list[tuple[str, bytes, str | None]]) -> list[Path]:
        """Register uploaded logo images: each is checked before any is copied, then ``Registry.add`` (the same
        copy + atomic index update as ``osld register``)."""
        brand = validate_brand(brand)
        if not uploads:
            raise UploadError(400, "no images given")
        with tempfile.TemporaryDirectory(prefix="osld-serve-") as tmp:
            paths = []
            for i, (name, data, ctype) in enumerate(uploads):
                self.decode(data, name, ctype)  # type, size and decodability, like any upload
                fname = safe_filename(name, f"image{i}.png")
                if Path(fname).suffix.lower() not in REGISTRY_EXTENSIONS:
                    raise UploadError(400, f"{name}: registry images must be one of {sorted(REGISTRY_EXTENSIONS)}")
                sub = Path(tmp) / str(i)  # two uploads may share a name
                sub.mkdir()
                (sub / fname).write_bytes(data)
                paths.append(sub / fname)
            with self.lock:
                return self.registry.add(brand, paths)

    def remove(self, brand: str) -> int:
        with self.lock:
            return self.registry.remove(brand)
