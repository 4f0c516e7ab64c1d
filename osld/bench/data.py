"""Generated inputs of ``osld bench``: synthetic logos, scenes and registries, and the photo selection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from osld.bench.common import DEMO_DIR, MIN_DEMO_SIDE, BenchConfig
from osld.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

# ---------------------------------------------------------------- synthetic data


def synthetic_logo(rng: np.random.Generator, height: int = 96) -> np.ndarray:
    """A made-up logo: an emblem (circle, box, triangle or ellipse) and 2-4 letters, RGBA uint8 on transparent.

    Args:
        rng: the only source of randomness (same generator state, same logo).
        height: pixel height; the width is 1 to 2.6 times it.

    Returns:
        uint8 (height, width, 4) RGBA.
    """
    import cv2
    import numpy as np

    h = int(height)
    w = int(h * rng.uniform(1.0, 2.6))
    colour = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    c1 = tuple(int(v) for v in rng.integers(0, 256, 3))
    c2 = tuple(int(v) for v in rng.integers(0, 256, 3))
    r = h // 2 - 2
    centre = (h // 2, h // 2)
    shape = int(rng.integers(0, 4))
    for canvas, value in ((colour, c1), (alpha, 255)):
        if shape == 0:
            cv2.circle(canvas, centre, r, value, -1, cv2.LINE_AA)
        elif shape == 1:
            cv2.rectangle(canvas, (2, 2), (h - 3, h - 3), value, -1)
        elif shape == 2:
            pts = np.array([[h // 2, 2], [h - 3, h - 3], [2, h - 3]], np.int32)
            cv2.fillPoly(canvas, [pts], value, cv2.LINE_AA)
        else:
            cv2.ellipse(canvas, centre, (r, int(r * 0.6)), float(rng.uniform(0, 180)), 0, 360, value, -1)
    text = "".join(chr(ord("A") + int(i)) for i in rng.integers(0, 26, int(rng.integers(2, 5))))
    font = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX][int(rng.integers(0, 3))]
    thick = max(1, h // 24)
    room = (w - h - 4, 0) if w - h > h // 2 else (int(h * 0.8), h // 10)  # right of the emblem, or on it
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thick)
    scale = min(room[0] / max(tw, 1), h * 0.5 / max(th, 1))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    x = h + 2 if room[1] == 0 else max(0, (h - tw) // 2)
    org = (x, (h + th) // 2)
    text_colour = c2 if room[1] else c1
    cv2.putText(colour, text, org, font, scale, text_colour, thick, cv2.LINE_AA)
    cv2.putText(alpha, text, org, font, scale, 255, thick, cv2.LINE_AA)
    return np.dstack([colour, alpha])


def _brand_logo(seed: int, brand: int, height: int) -> np.ndarray:
    import numpy as np

    return synthetic_logo(np.random.default_rng([seed, 1, brand]), height)


def synthetic_scene(rng: np.random.Generator, seed: int, n_brands: int, width: int = 640,
                    height: int = 480) -> np.ndarray:
    """A 640x480-class RGB photo stand-in: gradient, clutter, noise and 1-3 logos of brands ``0..n_brands-1``."""
    import cv2
    import numpy as np

    top, bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).astype(np.uint8).copy()
    for _ in range(int(rng.integers(6, 14))):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x1, y1 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x2, y2 = x1 + int(rng.integers(20, 200)), y1 + int(rng.integers(20, 160))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x1, y1), (x2, y2), c, -1)
        else:
            cv2.line(img, (x1, y1), (x2, y2), c, int(rng.integers(1, 6)), cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 4))):
        logo = _brand_logo(seed, int(rng.integers(0, max(n_brands, 1))), int(rng.integers(40, 140)))
        lh, lw = logo.shape[:2]
        if lw >= width or lh >= height:
            continue
        x, y = int(rng.integers(0, width - lw)), int(rng.integers(0, height - lh))
        a = logo[..., 3:4].astype(np.float32) / 255.0
        region = img[y: y + lh, x: x + lw].astype(np.float32)
        img[y: y + lh, x: x + lw] = (a * logo[..., :3] + (1 - a) * region).astype(np.uint8)
    noise = rng.normal(0.0, 6.0, img.shape).astype(np.float32)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def write_synthetic_scenes(folder: str | Path, n: int, seed: int = 0, n_brands: int = 100) -> list[Path]:
    """Write ``n`` deterministic 640x480 JPEG scenes (quality 90) to ``folder``; scene i depends on (seed, i)."""
    import cv2
    import numpy as np

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rgb = synthetic_scene(np.random.default_rng([seed, 0, i]), seed, n_brands)
        path = folder / f"synthetic_{i:04d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def _write_png(path: Path, rgba: np.ndarray) -> None:
    import cv2

    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def write_synthetic_registry(folder: str | Path, n_brands: int, seed: int = 0) -> Path:
    """A registry folder ``<folder>/brand_NNNN/logo.png`` with one transparent canonical logo per brand."""
    folder = Path(folder)
    for b in range(n_brands):
        (folder / f"brand_{b:04d}").mkdir(parents=True, exist_ok=True)
        _write_png(folder / f"brand_{b:04d}" / "logo.png", _brand_logo(seed, b, 128))
    return folder


def write_synthetic_logos(folder: str | Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` small transparent PNG logos (48-128 px high) in ``folder``, as a user would register them."""
    import numpy as np

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = np.random.default_rng([seed, 2, i])
        path = folder / f"logo_{i:04d}.png"
        _write_png(path, synthetic_logo(rng, int(rng.integers(48, 129))))
        paths.append(path)
    return paths


def _longest_side(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return max(img.size)
    except (OSError, ValueError):
        return 0


def collect_images(cfg: BenchConfig, work: Path) -> tuple[list[Path], dict[str, Any]]:
    """The benchmark photos: folder photos (``--images`` or the demo set) then generated scenes.

    From the demo folder only 640px-class photos are taken (longest side >= ``MIN_DEMO_SIDE``; it also holds
    small emblem crops); a folder given with ``--images`` is taken as it is.
    """
    from osld.data.images import iter_image_files

    demo = DEMO_DIR / "images"
    folder = cfg.images or (demo if demo.is_dir() else None)
    real = list(iter_image_files([folder])) if folder else []
    skipped = 0
    if cfg.images is None and real:
        kept = [p for p in real if _longest_side(p) >= MIN_DEMO_SIDE]
        skipped, real = len(real) - len(kept), kept
    real = real[: cfg.max_images]
    synthetic = write_synthetic_scenes(work / "scenes", cfg.synthetic or 0, cfg.seed, cfg.registry_brands or 1)
    paths = real + synthetic
    if not paths:
        raise ConfigError("no benchmark images: give --images DIR or --synthetic N > 0")
    return paths, {"folder": str(folder) if folder else None, "from_folder": len(real),
                   "skipped_small": skipped, "synthetic": len(synthetic)}


def resolve_registry(cfg: BenchConfig, work: Path) -> tuple[Path, str]:
    """``--registry``, else ``datasets/demo/logos``, else a generated registry; returns (folder, source)."""
    if cfg.registry is not None:
        return Path(cfg.registry), str(cfg.registry)
    demo = DEMO_DIR / "logos"
    if demo.is_dir() and any(demo.iterdir()):
        return demo, str(demo)
    return write_synthetic_registry(work / "registry", cfg.registry_brands or 1, cfg.seed), "generated"
