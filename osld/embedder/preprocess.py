"""Embedder input preparation, shared by training (torch) and inference (numpy + OpenCV only)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import cv2
import numpy as np

# How a transparent canonical logo is embedded into the registry: composited on white, on black, in grey on white,
# and as a chrome car badge on a dark car (``osld.data.surfaces.chrome``, one fixed rendering).
CANONICAL_VARIANTS = ("white", "black", "grey_on_white", "chrome")
# Subtracted from a match's similarity to a variant row. A chrome rendering is a guess at the logo as a badge:
# with it at full weight real car emblems found their brand more often (R@1 at 5,104 brands 0.549 -> 0.598) but
# real brand photos less (0.697 -> 0.671), drawn to other brands' chrome rows; 0.06 kept the first and lost none
# of the second (session 20, ``osld evaluate embedder``'s sets (a) and (c)).
VARIANT_PENALTY = {"chrome": 0.06}
CHROME_BACKGROUND = 40.0


@cache
def drawing_fingerprint() -> str:
    """A hash of the code that draws the canonical variants: this module and the surfaces and augment code it
    calls. A registry indexed under other drawing code is re-embedded, so a fix to a rendering (session 28's
    chrome badge) reaches indexes built before it. Hashing the source, not a version constant nobody bumps, errs
    toward one needless re-index after an unrelated edit to these modules."""
    from osld.data import augment, surfaces

    h = hashlib.sha1()
    for path in (__file__, surfaces.__file__, augment.__file__):
        h.update(Path(path).read_bytes())
    return h.hexdigest()


def pad_to_square(rgb: np.ndarray) -> np.ndarray:
    """Pad the short side by replicating the border, so the aspect ratio survives the square resize."""
    h, w = rgb.shape[:2]
    if h == w:
        return rgb
    d = abs(h - w)
    a, b = d // 2, d - d // 2
    top, bottom, left, right = (a, b, 0, 0) if h < w else (0, 0, a, b)
    return cv2.copyMakeBorder(rgb, top, bottom, left, right, cv2.BORDER_REPLICATE)


def to_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 (h, w, 3) -> float32 (3, size, size) in 0..255 (the model normalizes internally)."""
    sq = pad_to_square(rgb)
    interp = cv2.INTER_AREA if sq.shape[0] > size else cv2.INTER_LINEAR
    sq = cv2.resize(sq, (size, size), interpolation=interp)
    return np.ascontiguousarray(sq.transpose(2, 0, 1), dtype=np.float32)


def batch_inputs(crops: list[np.ndarray], size: int) -> np.ndarray:
    """A float32 (n, 3, size, size) batch from RGB crops of any size (each at least 1x1)."""
    if not crops:
        return np.zeros((0, 3, size, size), np.float32)
    return np.stack([to_input(c, size) for c in crops])


def flatten_alpha(rgba: np.ndarray, variant: str) -> np.ndarray:
    """Composite an RGBA canonical logo into RGB, one of ``CANONICAL_VARIANTS``."""
    if rgba.ndim == 2:
        rgba = np.dstack([rgba] * 3 + [np.full_like(rgba, 255)])
    if rgba.shape[2] == 3:
        rgba = np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)])
    if variant == "chrome":
        from osld.data.surfaces import chrome

        scale = 256 / max(rgba.shape[:2])  # the model sees 128 px; the relief needs no more than twice that
        if scale < 1:
            rgba = cv2.resize(rgba, (max(1, round(rgba.shape[1] * scale)), max(1, round(rgba.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA)
        rgba = chrome(rgba, np.random.default_rng(0))
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    colour = rgba[..., :3].astype(np.float32)
    if variant == "chrome":
        bg = CHROME_BACKGROUND
    elif variant == "grey_on_white":
        colour = cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2GRAY).astype(np.float32)[..., None].repeat(3, axis=2)
        bg = 255.0
    elif variant == "white":
        bg = 255.0
    elif variant == "black":
        bg = 0.0
    else:
        raise ValueError(f"unknown canonical variant {variant!r}; expected one of {CANONICAL_VARIANTS}")
    out = alpha * colour + (1 - alpha) * bg
    return _margin(out.clip(0, 255).astype(np.uint8), bg)


def _margin(rgb: np.ndarray, bg: float, frac: float = 0.08) -> np.ndarray:
    """Add a small plain margin, as a detector box leaves around a logo."""
    m = max(1, int(round(max(rgb.shape[:2]) * frac)))
    return cv2.copyMakeBorder(rgb, m, m, m, m, cv2.BORDER_CONSTANT, value=(int(bg),) * 3)


def variant_offsets(rows_per_image: Iterable[int], variants: Sequence[str] = CANONICAL_VARIANTS) -> np.ndarray:
    """Per registry row, what a match to it loses (``-VARIANT_PENALTY``; 0 for a plain variant or an opaque image,
    which is embedded once), for images embedded by ``canonical_variants(..., variants)`` as ``rows_per_image``
    consecutive rows each."""
    one = np.array([-VARIANT_PENALTY.get(v, 0.0) for v in variants], np.float32)
    return np.concatenate([one if n == len(one) else np.zeros(n, np.float32) for n in rows_per_image] or
                          [np.zeros(0, np.float32)])


def canonical_variants(rgba: np.ndarray, variants: tuple[str, ...] = CANONICAL_VARIANTS) -> list[np.ndarray]:
    """An opaque canonical image gives itself once; a transparent one one RGB image per variant."""
    if rgba.shape[2] == 4 and rgba[..., 3].min() < 250:
        return [flatten_alpha(rgba, v) for v in variants]
    return [np.ascontiguousarray(rgba[..., :3])]
