"""Decode any image a directory walk meets into 8-bit RGB, or fail with one clear ``ImageReadError``.

Pillow does the decoding: it applies EXIF orientation, handles CMYK, palette, 16-bit, alpha and animated
files (first frame), guards against decompression bombs, and can decode JPEGs at 1/2, 1/4 or 1/8 size
(``draft``), which is the cheapest way to get a detector-sized image out of a 24-megapixel photo.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from osld.errors import ImageReadError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
# Pixels above which an image is refused outright (Pillow's own bomb limit is 2x its MAX_IMAGE_PIXELS).
MAX_PIXELS = 250_000_000

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class LoadedImage:
    """An RGB uint8 (h, w, 3) array and how it maps to the image the user sees.

    ``width``/``height`` are the full-resolution, EXIF-oriented size; ``scale`` = pixels / width, so a box in
    ``pixels`` coordinates divided by ``scale`` is in original-image pixels.
    """

    pixels: np.ndarray
    width: int
    height: int
    scale: float = 1.0


def _to_rgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        arr = (arr / (hi if hi > 0 else 1.0) * 255.0).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def load_image(path: str | os.PathLike, max_side: int | None = None) -> LoadedImage:
    """Read ``path`` as EXIF-oriented RGB.

    Args:
        path: image file.
        max_side: if given, JPEGs may be decoded at a reduced size whose longest side is still >= ``max_side``
            (a detector letterboxes to that size anyway); ``scale`` tells how to map back.

    Raises:
        ImageReadError: the file is missing, empty, not an image, truncated, corrupt, or too large.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise ImageReadError(f"{path}: {width}x{height} exceeds the {MAX_PIXELS:,}-pixel limit")
                orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
                if orientation in (5, 6, 7, 8):
                    width, height = height, width
                if max_side and img.format == "JPEG" and max(img.size) > 2 * max_side:
                    img.draft("RGB", (max_side, max_side))
                img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _to_rgb(img)
    except ImageReadError:
        raise
    except FileNotFoundError as e:
        raise ImageReadError(f"{path}: file not found") from e
    except IsADirectoryError as e:
        raise ImageReadError(f"{path}: is a directory") from e
    except UnidentifiedImageError as e:
        size = path.stat().st_size if path.exists() else 0
        reason = "empty file" if size == 0 else "not a recognised image format"
        raise ImageReadError(f"{path}: {reason}") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError(f"{path}: image too large (decompression-bomb guard)") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageReadError(f"{path}: corrupt or truncated image ({e})") from e
    except MemoryError as e:
        raise ImageReadError(f"{path}: out of memory while decoding") from e
    pixels = np.asarray(rgb, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageReadError(f"{path}: image has no pixels")
    return LoadedImage(pixels=np.ascontiguousarray(pixels), width=width, height=height, scale=pixels.shape[1] / width)


def load_rgba(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGBA uint8 (h, w, 4), opaque where the file has no alpha. For canonical logos."""
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                img = _to_rgb(img)
            return np.asarray(img.convert("RGBA"), dtype=np.uint8).copy()
    except FileNotFoundError as e:
        raise ImageReadError(f"{path}: file not found") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageReadError(f"{path}: cannot be read as an image ({e})") from e


def iter_image_files(inputs: Iterable[str | os.PathLike], recursive: bool = True) -> Iterator[Path]:
    """Yield image files from files and folders, sorted per folder, each real file once (symlink loops safe).

    Explicit file arguments are yielded whatever their extension (so a bad one is reported, not skipped);
    folders contribute files with an image extension.
    """
    seen_dirs: set[str] = set()
    seen_files: set[str] = set()

    def walk(folder: Path) -> Iterator[Path]:
        real = os.path.realpath(folder)
        if real in seen_dirs:
            return
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            p = Path(entry.path)
            try:
                if entry.is_dir():
                    if recursive:
                        yield from walk(p)
                elif p.suffix.lower() in IMAGE_EXTENSIONS:
                    yield p
            except OSError:
                continue

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in walk(p):
                key = os.path.realpath(f)
                if key not in seen_files:
                    seen_files.add(key)
                    yield f
        else:
            key = os.path.realpath(p)
            if key not in seen_files:
                seen_files.add(key)
                yield p
