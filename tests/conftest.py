"""Shared test fixtures: shipped weights, drawn logos and scenes, a registry builder, a bad-files factory.

Everything is drawn with OpenCV into ``tmp_path`` (no downloads, seeded). Nothing here is ``autouse``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

# ---------- drawing helpers (tests reach them through the fixtures below) ----------


def draw_logo(seed: int, size: int = 96, transparent: bool = True) -> np.ndarray:
    """A seeded synthetic logo: uint8 RGBA (size, size, 4), coloured shapes and a letter on a clear background."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 4), np.uint8)
    if not transparent:
        img[..., :3] = 255
    img[..., 3] = 0 if transparent else 255
    for _ in range(3):
        colour = tuple(int(c) for c in rng.integers(0, 220, 3)) + (255,)
        kind = rng.integers(3)
        c = tuple(int(v) for v in rng.integers(size // 5, 4 * size // 5, 2))
        r = int(rng.integers(size // 8, size // 3))
        if kind == 0:
            cv2.circle(img, c, r, colour, -1)
        elif kind == 1:
            cv2.rectangle(img, (c[0] - r, c[1] - r // 2), (c[0] + r, c[1] + r // 2), colour, -1)
        else:
            pts = np.array([[c[0], c[1] - r], [c[0] - r, c[1] + r], [c[0] + r, c[1] + r]], np.int32)
            cv2.fillPoly(img, [pts], colour)
    letter = chr(ord("A") + seed % 26)
    cv2.putText(img, letter, (size // 4, 3 * size // 4), cv2.FONT_HERSHEY_SIMPLEX, size / 40, (0, 0, 0, 255),
                max(1, size // 24))
    return img


def draw_scene(seed: int, width: int = 320, height: int = 240, logo: np.ndarray | None = None) -> np.ndarray:
    """A seeded RGB uint8 (height, width, 3) photo-like scene: gradient, noise, and a pasted logo."""
    rng = np.random.default_rng(seed)
    base = np.linspace(60, 200, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
    base += rng.normal(0, 8, (height, width, 3)).astype(np.float32)
    img = base.clip(0, 255).astype(np.uint8)
    logo = draw_logo(seed, size=min(96, width // 2, height // 2)) if logo is None else logo
    s = logo.shape[0]
    x, y = int(rng.integers(0, width - s + 1)), int(rng.integers(0, height - s + 1))
    alpha = logo[..., 3:4].astype(np.float32) / 255.0
    patch = img[y: y + s, x: x + s].astype(np.float32)
    img[y: y + s, x: x + s] = (alpha * logo[..., :3] + (1 - alpha) * patch).astype(np.uint8)
    return img


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an RGB(A) uint8 array with OpenCV's encoder to any path (unicode included); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix.lower() or ".png", image)
    if not ok:
        raise ValueError(f"OpenCV cannot encode {path.suffix}")
    path.write_bytes(buf.tobytes())
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels but holds no pixel data (a bomb stand-in)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# ---------- fixtures ----------


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The shipped ``weights/`` folder (``detector.onnx``, ``embedder.onnx``); skips when they are absent."""
    from osld.errors import ModelLoadError
    from osld.pipeline import default_weights_dir

    try:
        d = default_weights_dir()
    except ModelLoadError as e:
        pytest.skip(str(e))
    if not (d / "embedder.onnx").exists():
        pytest.skip(f"no embedder.onnx in {d}")
    return d


@pytest.fixture(scope="session")
def shipped_embedder(weights_dir: Path):
    """The shipped ONNX embedder, loaded once per session (stateless, safe to share)."""
    from osld.embedder import load_embedder

    return load_embedder(weights_dir / "embedder.onnx", threads=2)


@pytest.fixture
def logo_png(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``logo_png(seed, path=None, size=96, transparent=True)`` writes a drawn logo PNG, returns its path."""

    def make(seed: int, path: str | os.PathLike | None = None, size: int = 96, transparent: bool = True) -> Path:
        return write_image(path or tmp_path / "logos" / f"logo_{seed}.png", draw_logo(seed, size, transparent))

    return make


@pytest.fixture
def scene_images(tmp_path: Path) -> Callable[..., list[Path]]:
    """Factory: ``scene_images(n, folder=None, size=(320, 240), ext=".png", seed=0)`` -> sorted list of paths."""

    def make(n: int, folder: str | os.PathLike | None = None, size: tuple[int, int] = (320, 240),
             ext: str = ".png", seed: int = 0) -> list[Path]:
        folder = Path(folder or tmp_path / "scenes")
        return [write_image(folder / f"scene_{i:03d}{ext}", draw_scene(seed + i, *size)) for i in range(n)]

    return make


@pytest.fixture
def demo_registry(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``demo_registry(brands=("acme", "globex"), per_brand=1, root=None)`` -> a registry folder.

    Each brand gets ``per_brand`` drawn transparent PNGs in ``<root>/<brand>/``; the index is not built (pass the
    folder to ``Registry(root, embedder)`` and call ``sync()``).
    """

    def make(brands: Iterable[str] = ("acme", "globex"), per_brand: int = 1,
             root: str | os.PathLike | None = None) -> Path:
        root = Path(root or tmp_path / "registry")
        for b, brand in enumerate(brands):
            for i in range(per_brand):
                write_image(root / brand / f"{i}.png", draw_logo(100 * b + i))
        return root

    return make


# Each kind of file a directory walk meets that is not a decodable image, and how to make it.
def _truncated(data: bytes, keep: float) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def _corrupt_png_body(png: bytes) -> bytes:
    data = bytearray(png)
    start = data.find(b"IDAT") + 4
    for i in range(start, start + 2):  # the zlib stream header
        data[i] ^= 0xFF
    return bytes(data)


def _bad_files(good_png: bytes, good_jpg: bytes) -> dict[str, tuple[str, Callable[[Path], None]]]:
    def write(data: bytes) -> Callable[[Path], None]:
        return lambda p: p.write_bytes(data)

    return {
        "zero_byte": ("empty.jpg", write(b"")),
        "text_as_jpg": ("notes.jpg", write(b"this is not an image\n" * 20)),
        "html_as_png": ("page.png", write(b"<!doctype html><html><body>404</body></html>")),
        "random_png": ("noise.png", write(np.random.default_rng(0).bytes(3000))),
        "truncated_jpeg": ("cut.jpg", lambda p: p.write_bytes(_truncated(good_jpg, 0.5))),
        "truncated_png": ("cut.png", lambda p: p.write_bytes(_truncated(good_png, 0.5))),
        "header_only_jpeg": ("soi.jpg", lambda p: p.write_bytes(good_jpg[:20])),
        "corrupt_png": ("garbled.png", lambda p: p.write_bytes(_corrupt_png_body(good_png))),
        "bomb_png": ("bomb.png", write(png_header_only(30_000, 30_000))),
        "too_large_png": ("huge.png", write(png_header_only(9_000, 9_000))),
        "directory": ("folder.jpg", lambda p: p.mkdir()),
        "broken_symlink": ("dangling.png", lambda p: p.symlink_to(p.parent / "does-not-exist.png")),
        "symlink_loop": ("loop.jpg", lambda p: p.symlink_to(p.name)),
    }


BAD_KINDS = tuple(_bad_files(b"", b""))


@pytest.fixture
def bad_images(tmp_path: Path) -> Callable[..., dict[str, Path]]:
    """Factory: ``bad_images(folder=None, kinds=BAD_KINDS)`` writes one undecodable file per kind.

    Kinds: zero-byte, text/HTML with image extensions, random bytes, truncated JPEG/PNG, corrupt PNG data, a PNG
    header claiming a decompression bomb or a too-large image, a directory named ``*.jpg``, a broken symlink
    and a symlink loop. Returns ``{kind: path}``.
    """

    def make(folder: str | os.PathLike | None = None, kinds: Iterable[str] = BAD_KINDS) -> dict[str, Path]:
        folder = Path(folder or tmp_path / "bad")
        folder.mkdir(parents=True, exist_ok=True)
        scene = draw_scene(7, 160, 120)
        good_png = cv2.imencode(".png", scene)[1].tobytes()
        good_jpg = cv2.imencode(".jpg", scene)[1].tobytes()
        table = _bad_files(good_png, good_jpg)
        out = {}
        for kind in kinds:
            name, create = table[kind]
            path = folder / name
            create(path)
            out[kind] = path
        return out

    return make
