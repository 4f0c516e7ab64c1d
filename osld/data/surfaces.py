"""Logos printed on things: fabric with folds, cans and bottles, signs in perspective, chrome emblems.

Each function takes an RGBA logo (uint8, transparent background) and returns a new RGBA image of the logo as it
would look on that surface. Hand-written because no augmentation library bends an RGBA layer around a cylinder
or folds it like cloth while keeping its alpha (albumentations' ElasticTransform and GridDistortion act on whole
images and give no shading); the remapping itself is OpenCV's.
"""

from __future__ import annotations

import cv2
import numpy as np

from osld.data.augment import crop_to_alpha, is_blob, random_warp, two_tone_part


def _remap(rgba: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    return cv2.remap(rgba, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def _shade(rgba: np.ndarray, light: np.ndarray) -> np.ndarray:
    out = rgba.copy()
    out[..., :3] = np.clip(rgba[..., :3].astype(np.float32) * light[..., None], 0, 255).astype(np.uint8)
    return out


def cylinder(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Wrapped around a can or bottle: squeezed towards the edges, darker at the sides, a specular band."""
    h, w = rgba.shape[:2]
    arc = rng.uniform(0.8, 2.4)  # radians of the cylinder the logo covers
    half = np.sin(arc / 2)
    out_w = max(4, int(round(w * half / (arc / 2))))
    u = np.linspace(-1.0, 1.0, out_w)
    theta = np.arcsin(np.clip(u * half, -1, 1))
    src_x = (theta / arc + 0.5) * (w - 1)
    map_x = np.broadcast_to(src_x[None, :], (h, out_w))
    map_y = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, out_w))
    out = _remap(rgba, map_x, map_y)
    light = 0.55 + 0.45 * np.cos(theta)
    centre, width = rng.uniform(-0.6, 0.6), rng.uniform(0.05, 0.2)
    light = light + rng.uniform(0.3, 0.9) * np.exp(-((u - centre) ** 2) / (2 * width**2))
    out = _shade(out, np.broadcast_to(light[None, :], (h, out_w)).astype(np.float32))
    if rng.random() < 0.5:  # vertical bottle: the axis is horizontal
        out = np.ascontiguousarray(np.rot90(out, k=1 if rng.random() < 0.5 else -1))
    return out


def fabric(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Printed on cloth: a smooth displacement field of a few folds, shaded along the folds."""
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = np.zeros((h, w), np.float32)
    dy = np.zeros((h, w), np.float32)
    shade = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.3, 1.2) * max(h, w)
        amp = rng.uniform(0.01, 0.05) * max(h, w)
        phase = rng.uniform(0, 2 * np.pi)
        t = (xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period + phase
        dx += amp * np.sin(t) * -np.sin(angle)
        dy += amp * np.sin(t) * np.cos(angle)
        shade += np.cos(t) * rng.uniform(0.08, 0.25)
    out = _remap(rgba, xx + dx, yy + dy)
    return _shade(out, 1.0 + shade)


def _bevel(mask: np.ndarray, width: float) -> np.ndarray:
    """A rounded bevel: 0 outside ``mask``, rising over ``width`` pixels from its edge to a flat top of 1."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.sqrt(np.clip(dist / width, 0.0, 1.0))


def _raised_part(rgba: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The part of a logo that stands out of its badge: the lighter or darker of its colours (Otsu), when it
    has two; the whole logo otherwise (a solid shape is raised as a whole)."""
    part = two_tone_part(rgba, mask, rng)
    return mask if part is None else part


def chrome(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A chrome car emblem: the logo as bevelled metal that mirrors a sky-over-ground world.

    The logo (or, inside a filled logo, its lighter or darker part, raised off a lower badge) becomes a height
    map with rounded bevels; each pixel shows the environment in its reflected direction, a bright sky above a
    dark ground with a sharp horizon, so bevels come out as the bright and dark bands real chrome shows, and
    flat tops as one grey. Sometimes the badge keeps its paint (a blue oval, the quadrants of a roundel).
    """
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    mask = alpha > 0.5
    size = float(max(alpha.shape))
    width = rng.uniform(0.01, 0.04) * size + 1.0
    # raising the whole outline shows a logo's shape, but a blob's outline is no logo: raised as a whole, every
    # disc-shaped logo became the same blank chrome disc (a fifth of the catalogue, session 28)
    whole = rng.random() >= 0.6 and not is_blob(mask)
    raised = mask if whole else _raised_part(rgba, mask, rng)
    height = 0.5 * _bevel(mask, width) + 0.5 * _bevel(raised, width) if raised is not mask else _bevel(mask, width)
    height = cv2.GaussianBlur(height, (0, 0), 0.6) * width * rng.uniform(0.6, 1.5)
    yy, xx = np.mgrid[: alpha.shape[0], : alpha.shape[1]].astype(np.float32)
    radius2 = ((xx - alpha.shape[1] / 2) ** 2 + (yy - alpha.shape[0] / 2) ** 2) / (size / 2) ** 2
    height -= rng.uniform(0.0, 0.25) * size * radius2  # a domed badge: flat tops mirror a gradient, not one grey
    gy, gx = np.gradient(height)
    norm = np.sqrt(gx**2 + gy**2 + 1.0)
    nx, ny, nz = -gx / norm, -gy / norm, 1.0 / norm
    rx, ry = 2 * nz * nx, 2 * nz * ny  # reflected view ray (viewer along +z), image y pointing down
    tilt = rng.uniform(-0.5, 0.5)
    up = -(ry * np.cos(tilt) + rx * np.sin(tilt)) + rng.uniform(-0.4, 0.4)
    sky, ground = rng.uniform(0.7, 1.0), rng.uniform(0.03, 0.35)
    world = ground + (sky - ground) / (1.0 + np.exp(-rng.uniform(6, 30) * up))
    world += rng.uniform(0.0, 0.06) * np.sin(rng.uniform(4, 12) * up + rng.uniform(0, 2 * np.pi))  # surroundings
    light = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.8, -0.2), 1.0])
    light /= np.linalg.norm(light)
    spec = np.clip(rx * light[0] + ry * light[1] + (2 * nz**2 - 1) * light[2], 0, 1) ** rng.uniform(20, 80)
    grey = np.clip(world + rng.uniform(0.2, 0.6) * spec, 0, 1)
    metal = grey[..., None] * rng.uniform(0.85, 1.0, 3).astype(np.float32) * 255
    out = rgba.copy()
    if raised is not mask and rng.random() < 0.4:  # the badge keeps its paint, lacquered
        paint = rgba[..., :3].astype(np.float32) * rng.uniform(0.7, 1.0) + 25 * spec[..., None]
        metal = np.where(raised[..., None], metal, paint)
    out[..., :3] = np.clip(metal, 0, 255).astype(np.uint8)
    return out


def sign(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """On a board or a wall seen at an angle: strong perspective, maybe on a plate of its own colour."""
    if rng.random() < 0.4:
        h, w = rgba.shape[:2]
        pad = int(rng.uniform(0.05, 0.3) * max(h, w))
        plate = np.zeros((h + 2 * pad, w + 2 * pad, 4), np.uint8)
        plate[..., :3] = rng.integers(0, 256, 3, dtype=np.uint8)
        plate[..., 3] = 255
        a = rgba[..., 3:4].astype(np.float32) / 255.0
        region = plate[pad: pad + h, pad: pad + w, :3].astype(np.float32)
        plate[pad: pad + h, pad: pad + w, :3] = (a * rgba[..., :3] + (1 - a) * region).astype(np.uint8)
        rgba = plate
    return crop_to_alpha(random_warp(rgba, rng, max_rotate=15, max_perspective=0.3))


SURFACES = {"cylinder": cylinder, "fabric": fabric, "chrome": chrome, "sign": sign}


def print_on_surface(rgba: np.ndarray, rng: np.random.Generator, p: float = 0.5,
                     weights: dict[str, float] | None = None) -> np.ndarray:
    """With probability ``p``, the logo printed on one randomly chosen surface; else unchanged."""
    if rng.random() >= p:
        return rgba
    weights = weights or {"cylinder": 0.3, "fabric": 0.35, "chrome": 0.1, "sign": 0.25}
    names = list(weights)
    probs = np.array([weights[n] for n in names], np.float64)
    name = names[int(rng.choice(len(names), p=probs / probs.sum()))]
    return crop_to_alpha(SURFACES[name](rgba, rng))
