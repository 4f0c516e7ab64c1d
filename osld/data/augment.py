"""Rendering a canonical RGBA logo the way it looks in a photo. Shared by ``osld synth`` and embedder training.

albumentations does the photometric and geometric work; the hand-written part is alpha compositing and
recolouring, which albumentations has no transform for.
"""

from __future__ import annotations

import os

import cv2
import numpy as np


def is_blob(mask: np.ndarray, solidity: float = 0.9) -> bool:
    """The logo's outline is a filled convex shape (a disc, a rounded square): its design is in its colours."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = sum(cv2.contourArea(cv2.convexHull(c)) for c in contours)
    return hull > 0 and mask.sum() >= solidity * hull


def two_tone_part(rgba: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The lighter or darker of a logo's colours inside ``mask`` (Otsu on luminance), or None when the logo has one
    colour or that part covers under a tenth of it."""
    lum = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2GRAY)
    values = lum[mask]
    if values.size < 16 or values.std() < 20:
        return None
    t, _ = cv2.threshold(values.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    part = mask & ((lum > t) if rng.random() < 0.5 else (lum <= t))
    return part if part.sum() > 0.1 * mask.sum() else None


def one_colour_ink(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where one ink would print a logo: its whole outline, or for a badge-shaped logo (a disc, a rounded square)
    its darker or lighter part, so that the design shows as knock-outs instead of a blank disc."""
    mask = rgba[..., 3] > 127
    ink = two_tone_part(rgba, mask, rng) if is_blob(mask) else None
    return rgba[..., 3] if ink is None else np.where(ink, rgba[..., 3], 0).astype(np.uint8)


def recolor(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomly keep colours, print the logo in one flat colour, invert it, or make it grey."""
    out = rgba.copy()
    r = rng.random()
    if r < 0.5:
        return out
    if r < 0.75:
        # one ink: before session 28 the whole alpha was filled, so every disc-shaped logo (a fifth of the
        # catalogue) printed as the same blank disc, a quarter of its renders labelled with nothing of the brand
        out[..., 3] = one_colour_ink(rgba, rng)
        out[..., :3] = rng.integers(0, 256, 3, dtype=np.uint8)
    elif r < 0.85:
        out[..., :3] = 255 - out[..., :3]
    else:
        grey = cv2.cvtColor(np.ascontiguousarray(out[..., :3]), cv2.COLOR_RGB2GRAY)
        out[..., :3] = grey[..., None]
    return out


def random_warp(rgba: np.ndarray, rng: np.random.Generator, max_rotate: float = 25.0,
                max_perspective: float = 0.12) -> np.ndarray:
    """Rotate and perspective-warp an RGBA image onto an enlarged transparent canvas (nothing is cut off)."""
    h, w = rgba.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-max_perspective, max_perspective, (4, 2)) * np.float32([w, h])
    dst = src + jitter.astype(np.float32)
    angle = np.deg2rad(rng.normal(0, max_rotate / 2.5))
    angle = float(np.clip(angle, -np.deg2rad(max_rotate), np.deg2rad(max_rotate)))
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = dst @ rot.T
    dst -= dst.min(axis=0)
    out_w, out_h = (np.ceil(dst.max(axis=0)) + 1).astype(int)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    return cv2.warpPerspective(rgba, m, (int(out_w), int(out_h)), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def crop_to_alpha(rgba: np.ndarray, threshold: int = 8) -> np.ndarray:
    ys, xs = np.nonzero(rgba[..., 3] > threshold)
    if len(xs) == 0:
        return rgba
    return rgba[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def composite(background: np.ndarray, rgba: np.ndarray, x: int, y: int, shade: np.ndarray | None = None
              ) -> np.ndarray:
    """Alpha-blend ``rgba`` onto ``background`` (modified in place) with its top-left at (x, y).

    Returns the float alpha (h, w) actually written, clipped to the background, placed in a full-size mask.
    ``shade`` (optional, background-sized, ~1.0) multiplies the logo so it takes on the surface's texture.
    """
    bh, bw = background.shape[:2]
    h, w = rgba.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, bw), min(y + h, bh)
    mask = placed_alpha(rgba[..., 3], x, y, (bh, bw))
    if x1 <= x0 or y1 <= y0:
        return mask
    alpha = mask[y0:y1, x0:x1, None]
    colour = rgba[y0 - y: y1 - y, x0 - x: x1 - x, :3].astype(np.float32)
    if shade is not None:
        colour = colour * shade[y0:y1, x0:x1, None]
    region = background[y0:y1, x0:x1].astype(np.float32)
    background[y0:y1, x0:x1] = np.clip(alpha * colour + (1 - alpha) * region, 0, 255).astype(np.uint8)
    return mask


def placed_alpha(alpha: np.ndarray, x: int, y: int, shape: tuple[int, int]) -> np.ndarray:
    """A uint8 (h, w) alpha with its top-left at (x, y) in a float mask (0..1) of ``shape``, clipped to it."""
    bh, bw = shape
    h, w = alpha.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, bw), min(y + h, bh)
    mask = np.zeros((bh, bw), np.float32)
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = alpha[y0 - y: y1 - y, x0 - x: x1 - x].astype(np.float32) / 255.0
    return mask


def surface_shade(background: np.ndarray, rng: np.random.Generator, strength: float | None = None) -> np.ndarray:
    """A multiplicative texture map (~1.0) from the background's own luminance: logos printed on a surface."""
    if strength is None:
        strength = rng.uniform(0.0, 0.5)
    grey = cv2.cvtColor(background, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    grey = cv2.GaussianBlur(grey, (0, 0), 1.0)
    return 1.0 - strength + strength * (grey / max(float(grey.mean()), 1e-3)).clip(0, 2) * 0.5 + strength * 0.5


def import_albumentations():
    """albumentations, imported without its update check (a request to pypi.org on import)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations

    return albumentations


def photometric(p: float = 1.0):
    """Whole-image degradations that do not move pixels: blur, noise, lighting, colour, JPEG."""
    A = import_albumentations()

    return A.Compose(
        [
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7)), A.Defocus(radius=(1, 3))],
                    p=0.35),
            A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.6),
            A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=25, val_shift_limit=15, p=0.4),
            A.RandomGamma(p=0.2),
            A.GaussNoise(std_range=(0.02, 0.08), p=0.3),
            A.ImageCompression(quality_range=(35, 95), p=0.5),
        ],
        p=p,
    )
