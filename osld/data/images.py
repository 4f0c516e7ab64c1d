"""Decode any image a directory walk meets into 8-bit RGB, or fail with one clear ``ImageReadError``.

Pillow does the decoding: EXIF orientation is applied, CMYK, palette, 16-bit, alpha and animated files (first
frame) are handled, and decompression bombs are refused. Memory is bounded by two documented limits:

* ``MAX_PIXELS`` (150 MP): larger images are refused outright, whatever their format.
* ``MAX_DECODE_PIXELS`` (64 MP): the most pixels ever decoded at once. With ``max_side`` set, JPEGs are decoded
  at 1/2, 1/4 or 1/8 size (``draft``), which keeps a 100-megapixel photo at a few megapixels; any other format
  is decoded at full size, so a PNG/WebP/TIFF... above this limit is refused with a message saying so.

After decoding, an image still more than twice ``max_side`` is shrunk by an integer factor before the colour
conversions, so their copies stay small (peak about 5 bytes per decoded pixel; up to 16 at full resolution).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from osld.errors import ImageReadError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
# Images with more pixels than this are refused outright (below Pillow's own hard bomb limit of ~179 MP).
MAX_PIXELS = 150_000_000
# At most this many pixels are decoded at once; only JPEGs can be decoded at reduced size (see module docstring).
MAX_DECODE_PIXELS = 64_000_000

# What Pillow raises for hostile or damaged files, besides its own UnidentifiedImageError / DecompressionBomb*.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError,
                  ZeroDivisionError)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBa", "La", "I", "F", "CMYK", "YCbCr"})
# ``warnings.catch_warnings`` swaps a process-wide filter list: serialize it across decode threads.
_OPEN_LOCK = threading.Lock()


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


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:200]


def _pillow_open():
    """Pillow's own ``Image.open``: importing ultralytics replaces it process-wide with a wrapper that tries to
    pip-install a HEIF plugin whenever a file is not an image (a network attempt, then ``ModuleNotFoundError``)."""
    open_ = Image.open
    module = getattr(open_, "__module__", "") or ""
    if module.startswith("ultralytics"):
        open_ = getattr(sys.modules.get(module), "_image_open", open_)
    return open_


def _open_regular(path: Path) -> int:
    """A read-only descriptor of ``path`` if it is a regular file. Opened non-blocking: opening a FIFO for
    reading otherwise waits for a writer forever (and a thread stuck there ignores Ctrl-C)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise ImageReadError(f"{path}: not a regular file (a FIFO, socket or device)")
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _open(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` (header only) of a regular file, with osld's size limits instead of Pillow's warning."""
    with os.fdopen(_open_regular(path), "rb") as f:
        with _OPEN_LOCK, warnings.catch_warnings():
            # we check the size ourselves (MAX_PIXELS / MAX_DECODE_PIXELS) and may decode a large JPEG at 1/8
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")  # "Corrupt EXIF data" etc.
            img = _pillow_open()(f)
        with img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageReadError(f"{path}: {width}x{height} image has {width * height:,} pixels, more than the "
                                     f"{MAX_PIXELS:,}-pixel limit (decompression-bomb guard)")
            yield img


def _check_decode_size(path: Path, img: Image.Image, hint: str = "") -> None:
    w, h = img.size
    if w * h > MAX_DECODE_PIXELS:
        raise ImageReadError(f"{path}: {w}x{h} image is too large to decode ({w * h:,} pixels, limit "
                             f"{MAX_DECODE_PIXELS:,}){hint}")


def _orientation(img: Image.Image) -> int:
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            value = img.getexif().get(0x0112, 1)
    except _DECODE_ERRORS:  # a damaged EXIF block does not make the pixels unreadable
        return 1
    return value if value in _TRANSPOSE else 1


def _shrink(img: Image.Image, max_side: int) -> Image.Image:
    """Reduce by an integer factor while the longest side stays >= ``max_side``; returns ``img`` if too small."""
    factor = max(img.size) // max_side
    if factor < 2:
        return img
    if img.mode not in _REDUCIBLE:  # 1, P, PA, I;16...: widen first (palette indices cannot be averaged)
        if img.mode.startswith("I;16"):
            img = img.convert("I")
        elif img.mode == "1":
            img = img.convert("L")
        elif img.mode == "PA" or (img.mode == "P" and "transparency" in img.info):
            img = img.convert("RGBA")
        else:
            img = img.convert("RGB")
    return img.reduce(factor)


def _to_rgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
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


def _read_error(path: Path, e: BaseException) -> ImageReadError:
    """The one-line ``ImageReadError`` for an exception raised while opening or decoding ``path``."""
    if isinstance(e, FileNotFoundError):
        reason = "file not found"
    elif isinstance(e, IsADirectoryError):
        reason = "is a directory"
    elif isinstance(e, UnidentifiedImageError):
        try:
            empty = path.stat().st_size == 0
        except OSError:
            empty = False
        reason = "empty file" if empty else "not a recognised image format"
    elif isinstance(e, Image.DecompressionBombError):
        reason = f"image too large (decompression-bomb guard: {_one_line(e)})"
    elif isinstance(e, MemoryError):
        reason = "out of memory while decoding"
    elif isinstance(e, OSError) and e.errno is not None:
        reason = f"cannot read file ({e.strerror or _one_line(e)})"
    else:
        reason = f"corrupt or truncated image ({_one_line(e)})"
    return ImageReadError(f"{path}: {reason}")


def load_image(path: str | os.PathLike, max_side: int | None = None) -> LoadedImage:
    """Read ``path`` as EXIF-oriented RGB.

    Args:
        path: image file.
        max_side: if given, the image may be decoded at a reduced size whose longest side is still >= ``max_side``
            (a detector letterboxes to that size anyway); ``scale`` tells how to map back.

    Returns:
        ``LoadedImage`` with uint8 (h, w, 3) RGB ``pixels``, transparent areas composited on white.

    Raises:
        ImageReadError: the file is missing, empty, not an image, truncated, corrupt, or too large (see
            ``MAX_PIXELS`` and ``MAX_DECODE_PIXELS``). The message is one line starting with the path.
    """
    path = Path(path)
    try:
        with _open(path) as img:
            width, height = img.size
            is_jpeg = img.format == "JPEG"
            if max_side and is_jpeg and max(img.size) > 2 * max_side:
                # ask for the aspect-preserving size with longest side max_side: draft keeps both sides >= that
                f = max_side / max(img.size)
                img.draft("RGB", (max(1, int(img.size[0] * f)), max(1, int(img.size[1] * f))))
            _check_decode_size(path, img, " (JPEGs are decoded at reduced size when max_side is given)"
                               if is_jpeg else "; only JPEGs can be decoded at reduced size")
            img.seek(0)
            img.load()
            orientation = _orientation(img)  # after load: a PNG may keep its EXIF after the pixel data
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            frame = _shrink(img, max_side) if max_side else img
            if frame is not img:
                img.close()  # frees the full-size pixels before the colour conversions
            if orientation in _TRANSPOSE:
                frame = frame.transpose(_TRANSPOSE[orientation])
            rgb = _to_rgb(frame)
            del frame
    except ImageReadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, MemoryError, *_DECODE_ERRORS) as e:
        raise _read_error(path, e) from e
    pixels = np.asarray(rgb, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageReadError(f"{path}: image has no pixels")
    return LoadedImage(pixels=np.ascontiguousarray(pixels), width=width, height=height, scale=pixels.shape[1] / width)


def load_rgba(path: str | os.PathLike) -> np.ndarray:
    """Read an image as EXIF-oriented RGBA uint8 (h, w, 4), opaque where the file has no alpha. For canonical logos.

    Raises:
        ImageReadError: as ``load_image`` (same size limits, full resolution).
    """
    path = Path(path)
    try:
        with _open(path) as img:
            _check_decode_size(path, img)
            img.seek(0)
            img.load()
            orientation = _orientation(img)
            frame = img.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else img
            if frame.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                frame = _to_rgb(frame)
            return np.asarray(frame.convert("RGBA"), dtype=np.uint8).copy()
    except ImageReadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, MemoryError, *_DECODE_ERRORS) as e:
        raise _read_error(path, e) from e


def iter_image_files(inputs: Iterable[str | os.PathLike], recursive: bool = True,
                     skipped: list[Path] | None = None) -> Iterator[Path]:
    """Yield image files from files and folders, sorted per folder, each real file once (symlink loops safe).

    Explicit file arguments are yielded whatever their extension (so a bad one is reported, not skipped);
    folders contribute files with an image extension (``IMAGE_EXTENSIONS``). The other non-hidden files met in
    folders are appended to ``skipped`` if given (see ``describe_skipped``).
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
                is_dir = entry.is_dir()
            except OSError:  # e.g. a symlink loop: reported by load_image if it has an image extension
                is_dir = False
            if is_dir:
                if recursive:
                    yield from walk(p)
            elif p.suffix.lower() in IMAGE_EXTENSIONS:
                yield p
            elif skipped is not None:
                skipped.append(p)

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


def describe_skipped(paths: Iterable[Path], first: int = 3) -> str:
    """One line naming files skipped for their extension, by extension: count and the first few names, e.g.
    ``.heic: 3 (a.heic, b.heic, c.heic), .txt: 1 (notes.txt)``; empty if none."""
    by_ext: dict[str, list[Path]] = {}
    for p in paths:
        by_ext.setdefault(p.suffix.lower() or "(no extension)", []).append(p)
    return ", ".join(f"{ext}: {len(ps)} ({', '.join(p.name for p in ps[:first])}{', ...' if len(ps) > first else ''})"
                     for ext, ps in sorted(by_ext.items(), key=lambda x: (-len(x[1]), x[0])))
