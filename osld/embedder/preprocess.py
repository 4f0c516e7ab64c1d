"""Embedder input preparation, shared by training (torch) and inference (numpy + OpenCV only)."""

from __future__ import annotations

import cv2
import numpy as np

# Backgrounds a transparent canonical logo is composited on when it is embedded into the registry.
CANONICAL_VARIANTS = ("white", "black", "grey_on_white")


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
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    colour = rgba[..., :3].astype(np.float32)
    if variant == "grey_on_white":
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


def canonical_variants(rgba: np.ndarray, variants: tuple[str, ...] = CANONICAL_VARIANTS) -> list[np.ndarray]:
    """An opaque canonical image gives itself once; a transparent one one RGB image per variant."""
    if rgba.shape[2] == 4 and rgba[..., 3].min() < 250:
        return [flatten_alpha(rgba, v) for v in variants]
    return [np.ascontiguousarray(rgba[..., :3])]
