"""Reliability: bad input never crashes a batch, nothing is lost on interrupt, the registry stays consistent.

These tests never depend on what the shipped models detect (they will be replaced): only on the contract that
every input gets exactly one record, bad ones an error, and the process survives.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from osld.cli import app
from osld.data.images import MAX_DECODE_PIXELS, MAX_PIXELS, iter_image_files, load_image, load_rgba
from osld.errors import ConfigError, ImageReadError, ModelLoadError
from osld.output import ResultWriter, done_images
from osld.registry import Registry

OSLD = [sys.executable, "-m", "osld.cli"]
SRC = Path(__file__).resolve().parent.parent / "osld"


@pytest.fixture(scope="module")
def pipeline(weights_dir):
    """The shipped models without a registry, built once for this module."""
    from osld.pipeline import Pipeline

    return Pipeline.from_pretrained(threads=2)


def _rgb(h: int, w: int, colour=(200, 30, 30)) -> Image.Image:
    return Image.new("RGB", (w, h), colour)


def _save(img: Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ====================================================================================================
# Bad input: load_image
# ====================================================================================================

BAD_REASONS = {
    "zero_byte": "empty file",
    "text_as_jpg": "not a recognised image format",
    "html_as_png": "not a recognised image format",
    "random_png": "not a recognised image format",
    "truncated_jpeg": "corrupt or truncated",
    "truncated_png": "corrupt or truncated",
    "header_only_jpeg": "not a recognised image format",
    "corrupt_png": "corrupt or truncated",
    "bomb_png": "decompression-bomb",
    "too_large_png": "too large to decode",
    "directory": "is a directory",
    "broken_symlink": "file not found",
    "symlink_loop": "cannot read file",
}


@pytest.mark.parametrize("kind", sorted(BAD_REASONS))
@pytest.mark.parametrize("loader", [load_image, load_rgba], ids=["load_image", "load_rgba"])
def test_bad_file_raises_one_line_image_read_error(bad_images, kind, loader):
    path = bad_images(kinds=[kind])[kind]
    with pytest.raises(ImageReadError) as info:
        loader(path, **({"max_side": 1024} if loader is load_image else {}))
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert "\n" not in msg
    assert BAD_REASONS[kind] in msg


def _write_cmyk(p):
    return _save(Image.new("CMYK", (40, 20), (0, 255, 255, 0)), p)


def _write_gray16(p):
    cv2.imwrite(str(p), np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (20, 1)))
    return p


def _write_rgb16(p):
    a = np.zeros((20, 40, 3), np.uint16)
    a[..., 2] = 65535  # BGR: red
    cv2.imwrite(str(p), a)
    return p


def _write_palette_transparent(p):
    img = Image.new("P", (40, 20), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 20, 20))  # left half red (index 1), right half index 0 = transparent
    return _save(img, p, transparency=0)


def _write_animated(p):
    frames = [_rgb(20, 40, (255, 0, 0)), _rgb(20, 40, (0, 0, 255))]
    extra = {"lossless": True} if p.suffix == ".webp" else {}
    return _save(frames[0], p, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)


def _write_rgba(p):
    img = Image.new("RGBA", (40, 20), (255, 0, 0, 255))
    img.paste((0, 0, 0, 0), (20, 0, 40, 20))
    return _save(img, p)


# (writer, file name, expected RGB at the left-half pixel, at the right-half pixel; None = not checked)
ODD_FORMATS = {
    "grayscale_jpeg": (lambda p: _save(Image.new("L", (40, 20), 128), p), "g.jpg", (128, 128, 128), None),
    "grayscale_png": (lambda p: _save(Image.new("L", (40, 20), 90), p), "g.png", (90, 90, 90), None),
    "one_bit_png": (lambda p: _save(Image.new("1", (40, 20), 1), p), "b.png", (255, 255, 255), None),
    "cmyk_jpeg": (_write_cmyk, "c.jpg", (255, 0, 0), None),
    "gray_16bit_png": (_write_gray16, "g16.png", (0, 0, 0), (255, 255, 255)),  # left edge 0, right edge max
    "rgb_16bit_png": (_write_rgb16, "c16.png", (255, 0, 0), (255, 0, 0)),
    "palette_transparent_png": (_write_palette_transparent, "pal.png", (255, 0, 0), (255, 255, 255)),
    "rgba_png": (_write_rgba, "a.png", (255, 0, 0), (255, 255, 255)),
    "la_png": (lambda p: _save(Image.new("LA", (40, 20), (0, 0)), p), "la.png", (255, 255, 255), None),
    "animated_gif": (_write_animated, "anim.gif", (255, 0, 0), (255, 0, 0)),
    "animated_webp": (_write_animated, "anim.webp", (255, 0, 0), (255, 0, 0)),
    "bmp": (lambda p: _save(_rgb(20, 40), p), "x.bmp", (200, 30, 30), None),
    "tiff": (lambda p: _save(_rgb(20, 40), p), "x.tif", (200, 30, 30), None),
}


@pytest.mark.parametrize("kind", sorted(ODD_FORMATS))
def test_odd_formats_decode_to_rgb_uint8(tmp_path, kind):
    write, name, left, right = ODD_FORMATS[kind]
    path = write(tmp_path / name)
    img = load_image(path)
    assert img.pixels.dtype == np.uint8 and img.pixels.shape == (20, 40, 3)
    assert (img.width, img.height, img.scale) == (40, 20, 1.0)
    x_left, x_right = (0, 39) if kind == "gray_16bit_png" else (5, 35)
    np.testing.assert_allclose(img.pixels[10, x_left], left, atol=12)
    if right is not None:
        np.testing.assert_allclose(img.pixels[10, x_right], right, atol=12)
    assert load_rgba(path).shape == (20, 40, 4)


def _exif_jpeg(path: Path, w: int, h: int, orientation: int) -> Path:
    img = _rgb(h, w, (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, w // 4, h // 4))  # marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(img, path, exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize(("orientation", "marker"), [(1, "top_left"), (6, "top_right"), (8, "bottom_left"),
                                                     (3, "bottom_right")])
@pytest.mark.parametrize("max_side", [None, 64])
def test_exif_orientation_gives_the_size_the_user_sees(tmp_path, orientation, marker, max_side):
    path = _exif_jpeg(tmp_path / "o.jpg", 400, 200, orientation)  # stored landscape
    img = load_image(path, max_side=max_side)
    upright = (200, 400) if orientation in (6, 8) else (400, 200)
    assert (img.width, img.height) == upright
    h, w = img.pixels.shape[:2]
    assert w / h == pytest.approx(upright[0] / upright[1], rel=0.05)
    assert img.scale == pytest.approx(w / upright[0])
    if max_side:
        assert max(h, w) >= max_side and img.scale < 1  # decoded at reduced size, still >= max_side
    corners = {"top_left": img.pixels[2, 2], "top_right": img.pixels[2, w - 3],
               "bottom_left": img.pixels[h - 3, 2], "bottom_right": img.pixels[h - 3, w - 3]}
    for name, px in corners.items():
        red = px[0] > 200 and px[1] < 80
        assert red == (name == marker), f"{name}: {px}"
    assert load_rgba(path).shape[:2] == (upright[1], upright[0])


def test_corrupt_exif_still_loads_quietly(tmp_path):
    bad_exif = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03"  # 5 tags promised, none there
    path = _save(_rgb(20, 40), tmp_path / "exif.jpg", exif=bad_exif)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = load_image(path)
    assert (img.width, img.height) == (40, 20)
    assert not [w for w in caught if issubclass(w.category, UserWarning)], [str(w.message) for w in caught]


def test_large_png_is_shrunk_before_conversion_and_boxes_map_back(tmp_path):
    img = Image.new("P", (3000, 1000), 0)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    img.paste(1, (0, 0, 1500, 1000))
    path = _save(img, tmp_path / "wide.png", transparency=0)
    out = load_image(path, max_side=256)
    assert (out.width, out.height) == (3000, 1000)
    h, w = out.pixels.shape[:2]
    assert 256 <= w < 512 and out.scale == pytest.approx(w / 3000)
    np.testing.assert_allclose(out.pixels[h // 2, w // 4], (0, 200, 0), atol=5)
    np.testing.assert_allclose(out.pixels[h // 2, 3 * w // 4], (255, 255, 255), atol=5)  # transparent -> white


def test_size_limits_are_documented_and_ordered():
    assert MAX_DECODE_PIXELS < MAX_PIXELS < 2 * Image.MAX_IMAGE_PIXELS
    assert "MAX_DECODE_PIXELS" in load_image.__doc__ and "MAX_PIXELS" in load_image.__doc__


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)")
def test_100_megapixel_jpeg_decodes_with_bounded_memory(tmp_path):
    path = tmp_path / "big.jpg"
    Image.linear_gradient("L").resize((10_000, 10_000)).save(path, quality=50)
    # VmHWM: this process's own peak RSS (ru_maxrss would also count the forked pytest process)
    code = ("import re, sys; from osld.data.images import load_image; "
            "im = load_image(sys.argv[1], max_side=1024); "
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print(im.width, im.height, *im.pixels.shape[:2], hwm)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    width, height, h, w, max_rss_kb = map(int, out.stdout.split())
    assert (width, height) == (10_000, 10_000) and 1024 <= min(h, w) <= 2048
    # a full decode would need >= 100 MB for the grey plane and 300 MB for RGB; a 1/8 draft needs a few MB
    assert max_rss_kb < 200_000, f"peak RSS {max_rss_kb / 1024:.0f} MB"
    with pytest.raises(ImageReadError, match="too large to decode.*max_side"):
        load_image(path)  # full resolution was asked for: refused with a clear message, not an OOM


def test_load_image_leaves_global_warning_filters_alone(bad_images, tmp_path):
    files = list(bad_images().values()) + [_save(_rgb(20, 40), tmp_path / f"ok{i}.png") for i in range(4)]
    before = list(warnings.filters)

    def work():
        for p in files:
            with contextlib.suppress(ImageReadError):
                load_image(p, max_side=64)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(warnings.filters) == before


# ====================================================================================================
# Bad input: directory walk
# ====================================================================================================


def test_walk_survives_symlink_loops_and_reports_each_real_file_once(tmp_path):
    root = tmp_path / "photos"
    _save(_rgb(10, 10), root / "a.png")
    _save(_rgb(10, 10), root / "sub" / "b.jpg")
    (root / "sub" / "up").symlink_to("..")  # directory loop
    (root / "alias").symlink_to("sub")  # same folder twice
    (root / "loop.jpg").symlink_to("loop.jpg")  # file loop: reported, not silently dropped
    (root / "notes.txt").write_text("skip me")
    (root / ".hidden.jpg").write_bytes(b"")
    files = list(iter_image_files([root, root / "a.png"]))
    names = sorted(p.name for p in files)
    assert names == ["a.png", "b.jpg", "loop.jpg"]


def test_unicode_spaces_and_undecodable_names(tmp_path, pipeline):
    root = tmp_path / "mes photos été"
    good = [_save(_rgb(30, 40), root / "東京 タワー 1.png"), _save(_rgb(30, 40), root / "Café – 2.jpg")]
    raw = os.fsdecode(b"caf\xe9 latin1.png")  # not valid UTF-8: Python keeps the byte as a surrogate
    with contextlib.suppress(OSError, UnicodeError):  # unless the filesystem refuses non-UTF-8 names
        good.append(_save(_rgb(30, 40), root / raw))
    files = list(iter_image_files([root]))
    assert sorted(files) == sorted(good)
    results = list(pipeline.run(files))
    assert [r.path for r in results] == files and all(r.error is None for r in results)


# ====================================================================================================
# Bad input: a batch never crashes
# ====================================================================================================


def test_pipeline_run_reports_every_bad_file_and_keeps_going(pipeline, bad_images, scene_images, tmp_path):
    folder = tmp_path / "mixed"
    bad = bad_images(folder)
    good = scene_images(3, folder)
    files = list(iter_image_files([folder]))
    results = list(pipeline.run(files, batch_size=4))
    assert [r.path for r in results] == files
    by_path = {r.path: r for r in results}
    for p in good:
        assert by_path[p].error is None and by_path[p].detections is not None
    for kind, p in bad.items():
        if kind == "directory":
            assert p not in by_path  # a folder named *.jpg is walked into, not decoded
            continue
        r = by_path[p]
        assert r.detections is None and r.error.startswith(f"{p}: ") and "\n" not in r.error, kind


_SEED_IMAGES: dict[str, bytes] = {}


def _seed_images() -> dict[str, bytes]:
    """Small valid files in each format, as starting points for mutation."""
    if not _SEED_IMAGES:
        rng = np.random.default_rng(0)
        arr = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        for ext in (".png", ".jpg", ".bmp", ".tif", ".webp"):
            _SEED_IMAGES[ext] = cv2.imencode(ext, arr)[1].tobytes()
        import io

        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "GIF", save_all=True, append_images=[Image.fromarray(arr[::-1])])
        _SEED_IMAGES[".gif"] = buf.getvalue()
    return _SEED_IMAGES


@st.composite
def hostile_file(draw) -> tuple[str, bytes]:
    """(extension, bytes): pure noise, a real magic number + noise, or a truncated/bit-flipped valid image."""
    ext = draw(st.sampled_from([".jpg", ".png", ".gif", ".webp", ".bmp", ".tif"]))
    kind = draw(st.sampled_from(["noise", "magic", "truncated", "mutated"]))
    seeds = _seed_images()
    seed = seeds[draw(st.sampled_from(sorted(seeds)))]
    if kind == "noise":
        data = draw(st.binary(max_size=2048))
    elif kind == "magic":
        data = seed[:12] + draw(st.binary(max_size=1024))
    elif kind == "truncated":
        data = seed[: draw(st.integers(0, len(seed)))]
    else:
        buf = bytearray(seed)
        flips = draw(st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), min_size=1,
                              max_size=12))
        for pos, value in flips:
            buf[pos] = value
        data = bytes(buf)
    return ext, data


def _check_results(files: list[Path], results) -> None:
    assert [r.path for r in results] == files
    for r in results:
        assert (r.detections is None) == (r.error is not None)
        if r.error is not None:
            assert r.error.startswith(f"{r.path}: ") and "\n" not in r.error
        else:
            w, h = r.detections.metadata["width"], r.detections.metadata["height"]
            assert w > 0 and h > 0
            xyxy = r.detections.xyxy
            assert np.all(xyxy >= -1e-3) and np.all(xyxy[:, [0, 2]] <= w + 1e-3) and np.all(
                xyxy[:, [1, 3]] <= h + 1e-3)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(hostile_file(), min_size=1, max_size=4))
def test_random_bytes_never_crash_pipeline_run(pipeline, tmp_path_factory, items):
    folder = tmp_path_factory.mktemp("fuzz")
    files = []
    for i, (ext, data) in enumerate(items):
        files.append(folder / f"f{i}{ext}")
        files[-1].write_bytes(data)
    _check_results(files, list(pipeline.run(files, batch_size=2)))


def _fuzz_folder(folder: Path, n: int, seed: int) -> list[Path]:
    """Like ``hostile_file`` but seeded: noise, magic + noise, truncated and bit-flipped images."""
    rng = np.random.default_rng(seed)
    seeds = _seed_images()
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        ext = [".jpg", ".png"][i % 2]
        src = seeds[sorted(seeds)[i % len(seeds)]]
        kind = i % 4
        if kind == 0:
            data = rng.bytes(int(rng.integers(0, 2048)))
        elif kind == 1:
            data = src[:12] + rng.bytes(512)
        elif kind == 2:
            data = src[: int(rng.integers(0, len(src)))]
        else:
            buf = bytearray(src)
            for pos in rng.integers(0, len(src), 8):
                buf[pos] = int(rng.integers(0, 256))
            data = bytes(buf)
        files.append(folder / f"fuzz_{i:02d}{ext}")
        files[-1].write_bytes(data)
    return files


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_cli_detect_over_random_bytes_folder(tmp_path, scene_images, weights_dir):
    folder = tmp_path / "fuzz"
    files = _fuzz_folder(folder, 16, seed=1) + scene_images(1, folder)
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["detect", str(folder), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output  # at least the drawn scene succeeded
    assert res.exception is None or isinstance(res.exception, SystemExit)
    recs = _records(out)
    assert sorted(r["image"] for r in recs) == sorted(str(f) for f in files)
    errors = [r for r in recs if r["error"]]
    assert 0 < len(errors) < len(files)
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == len(errors)


@pytest.mark.parametrize(
    ("good", "strict", "exit_code"),
    [(2, False, 0), (2, True, 1), (0, False, 1)],
    ids=["some-bad", "some-bad-strict", "all-bad"],
)
def test_cli_exit_code_and_one_line_per_bad_file(tmp_path, bad_images, scene_images, weights_dir, good, strict,
                                                 exit_code):
    folder = tmp_path / "in"
    kinds = ["zero_byte", "text_as_jpg", "truncated_jpeg", "bomb_png", "symlink_loop"]
    bad = bad_images(folder, kinds)
    scenes = scene_images(good, folder) if good else []
    out = tmp_path / "out.jsonl"
    args = ["detect", str(folder), "--out", str(out), "--no-progress"] + (["--strict"] if strict else [])
    res = CliRunner().invoke(app, args)
    assert res.exit_code == exit_code, res.output
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit)
    recs = {r["image"]: r for r in _records(out)}
    assert set(recs) == {str(p) for p in [*bad.values(), *scenes]}
    for p in bad.values():
        assert recs[str(p)]["error"].startswith(f"{p}: ")
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped: ")]
    assert sorted(skipped) == sorted(f"skipped: {recs[str(p)]['error']}" for p in bad.values())


# ====================================================================================================
# Nothing lost: writers and --resume
# ====================================================================================================


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_writer_flushes_each_record_and_survives_undecodable_names(tmp_path, fmt):
    from osld.types import Detections

    out = tmp_path / f"out.{fmt}"
    names = ["a.png", "東京 1.png", os.fsdecode(b"caf\xe9.png"), "x,\"y\".png"]
    with ResultWriter(out, fmt) as writer:
        for i, name in enumerate(names):
            det = Detections.empty(width=10, height=10) if i % 2 else None
            writer.write(Path(name), det, None if det is not None else f"{name}: bad")
            # visible to another reader before the writer is closed
            assert len(done_images(out, fmt)) == i + 1
    assert done_images(out, fmt) == {os.path.abspath(n) for n in names}  # resume matches absolute paths
    if fmt == "jsonl":
        assert [r["image"] for r in _records(out)] == names  # valid UTF-8 JSON, names round-trip exactly


def test_done_images_repairs_a_torn_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as w:
        w.write("a.png", None, "a.png: bad")
        w.write("b.png", None, "b.png: bad")
    with open(out, "ab") as f:
        f.write(b'{"image": "c.png", "wid')  # kill -9 in the middle of a write
    assert done_images(out) == {os.path.abspath("a.png"), os.path.abspath("b.png")}
    with ResultWriter(out, append=True) as w:
        w.write("c.png", None, "c.png: bad")
    assert [r["image"] for r in _records(out)] == ["a.png", "b.png", "c.png"]


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupt_then_resume_loses_and_duplicates_nothing(tmp_path, scene_images, weights_dir, sig):
    n_images = 40
    images = scene_images(n_images, tmp_path / "imgs dir")
    out = tmp_path / "out.jsonl"
    cmd = [*OSLD, "detect", str(tmp_path / "imgs dir"), "--out", str(out), "--batch-size", "1", "--no-progress"]
    # a child inherits an ignored SIGINT (something earlier in a full pytest run leaves it ignored, and the run then
    # finished with exit 0); start it with the default handler, as from a terminal
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    try:
        while proc.poll() is None and _count_lines(out) < 3 and time.time() < deadline:
            time.sleep(0.01)
        finished_before_signal = proc.poll() is not None
        proc.send_signal(sig)
    finally:
        _, err = proc.communicate(timeout=60)
    assert not finished_before_signal, f"osld detect ended before the signal (exit {proc.returncode}): {err.decode()}"
    assert proc.returncode != 0, err.decode()  # interrupted, not finished
    if sig == signal.SIGINT:
        assert "Traceback" not in err.decode()
    first = _count_lines(out)
    assert 3 <= first < n_images
    with open(out, "ab") as f:  # as if the kill had landed in the middle of a write
        f.write(b'{"image": "' + str(images[first]).encode()[:10])
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    recs = _records(out)  # every line is valid JSON
    assert sorted(r["image"] for r in recs) == sorted(str(p) for p in images)  # each image exactly once
    assert all(r["error"] is None for r in recs)
    assert f"{first} skipped as done" in done.stdout


# ====================================================================================================
# Registry: concurrent writers, corruption, hostile names
# ====================================================================================================


def test_two_concurrent_register_processes_keep_both_brands(tmp_path, logo_png, shipped_embedder, caplog):
    reg = tmp_path / "reg"
    procs = []
    for b, brand in enumerate(["acme", "globex"]):
        logos = [logo_png(10 * b + i, tmp_path / brand / f"{brand}{i}.png") for i in range(3)]
        procs.append(subprocess.Popen([*OSLD, "register", brand, *map(str, logos), "--registry", str(reg)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "rebuilding" not in err  # neither writer ever saw a torn index
    registry = Registry(reg, shipped_embedder)
    with caplog.at_level("WARNING", logger="osld"):
        stats = registry.sync()
    assert "rebuilding" not in caplog.text  # manifest, vectors and checksums agree
    assert stats["added"] == stats["changed"] == stats["removed"] == stats["failed"] == 0
    assert stats["kept"] == 6
    manifest = json.loads((reg / ".osld" / "manifest.json").read_text())
    assert sorted(e["path"] for e in manifest["entries"]) == sorted(
        f"{b}/{b}{i}.png" for b in ["acme", "globex"] for i in range(3))
    assert set(registry.row_brands) == {"acme", "globex"}
    assert not [p for p in (reg / ".osld").iterdir() if p.name.endswith(".tmp")]


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _rewrite_manifest(change):
    def apply(p: Path) -> None:
        path = p.parent / "manifest.json"
        m = json.loads(path.read_text())
        path.write_text(json.dumps(change(m)))

    return apply


def _shift_rows(m):
    m["entries"][0]["rows"] += 1
    return m


CORRUPTIONS = {
    "vectors_random_bytes": ("vectors.npy", lambda p: p.write_bytes(os.urandom(200))),
    "vectors_truncated": ("vectors.npy", _truncate),
    "vectors_missing": ("vectors.npy", lambda p: p.unlink()),
    "vectors_bit_flip": ("vectors.npy", lambda p: p.write_bytes(p.read_bytes()[:-4] + b"\x00\x00\x80\x7f")),
    "manifest_truncated": ("manifest.json", _truncate),
    "manifest_not_a_dict": ("manifest.json", lambda p: p.write_text("[]")),
    "manifest_entries_garbled": ("manifest.json", _rewrite_manifest(lambda m: {**m, "entries": [1, 2]})),
    "manifest_rows_inconsistent": ("manifest.json", _rewrite_manifest(_shift_rows)),
    "manifest_missing": ("manifest.json", lambda p: p.unlink()),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_or_partial_index_is_detected_and_rebuilt(tmp_path, demo_registry, shipped_embedder, caplog, case):
    root = demo_registry(["acme", "globex", "initech"])
    Registry(root, shipped_embedder).sync()
    name, corrupt = CORRUPTIONS[case]
    corrupt(root / ".osld" / name)
    registry = Registry(root, shipped_embedder)
    with caplog.at_level("WARNING", logger="osld"):
        stats = registry.sync()
    assert "rebuilding" in caplog.text
    assert stats["added"] == 3 and stats["kept"] == 0
    assert len(registry.search(registry.vectors[:1], k=1)[0]) == 1
    caplog.clear()
    again = Registry(root, shipped_embedder)
    with caplog.at_level("WARNING", logger="osld"):
        assert again.sync()["kept"] == 3  # the rebuilt index is valid
    assert "rebuilding" not in caplog.text


HOSTILE_BRANDS = ["../x", "a/b", "a\\b", "a\x00b", "a\nb", ".hidden", "..", ".", "", "   ", "/abs", "unknown"]


@pytest.mark.parametrize("brand", HOSTILE_BRANDS, ids=repr)
def test_hostile_brand_names_are_refused_and_write_nothing(tmp_path, logo_png, brand):
    logo = logo_png(1)
    before = _tree(tmp_path)
    with pytest.raises(ConfigError, match="brand name|reserved"):
        Registry(tmp_path / "reg").add(brand, [logo])
    assert _tree(tmp_path) == before
    with pytest.raises(ConfigError):
        Registry(tmp_path / "reg").remove(brand)


def test_cli_register_refuses_a_hostile_brand(tmp_path, logo_png, weights_dir):
    logo = logo_png(1)
    before = _tree(tmp_path)
    res = CliRunner().invoke(app, ["register", "../evil", str(logo), "--registry", str(tmp_path / "reg")])
    assert res.exit_code == 1
    assert res.stderr.strip().startswith("error: invalid brand name") and len(res.stderr.strip().splitlines()) == 1
    assert _tree(tmp_path) == before


def test_unicode_brand_works(tmp_path, logo_png, shipped_embedder, weights_dir):
    reg = tmp_path / "reg"
    nfd = "Cafe\u0301 東京"  # decomposed é: stored as NFC
    registry = Registry(reg, shipped_embedder)
    registry.add(nfd, [logo_png(1)])
    res = CliRunner().invoke(app, ["register", "Zürich Ω", str(logo_png(2)), "--registry", str(reg)])
    assert res.exit_code == 0, res.output
    registry = Registry(reg, shipped_embedder)
    assert registry.brands() == sorted(["Café 東京", "Zürich Ω"])
    assert (reg / "Café 東京" / "logo_1.png").is_file()
    assert registry.sync()["kept"] == 2
    for row, brand in enumerate(registry.row_brands):
        assert registry.search(registry.vectors[row: row + 1], k=1)[0][0].brand == brand


def test_folders_with_unsafe_names_are_skipped_not_indexed(tmp_path, demo_registry, shipped_embedder, caplog):
    root = demo_registry(["acme"])
    shutil.copytree(root / "acme", root / "bad\x01name")
    with caplog.at_level("WARNING", logger="osld"):
        Registry(root, shipped_embedder).sync()
    assert "skipping folder" in caplog.text
    assert set(Registry(root, shipped_embedder).row_brands) == {"acme"}


# ====================================================================================================
# Models
# ====================================================================================================


def _onnx_model(path: Path, inputs: list[list], outputs: list[list]) -> Path:
    import onnx
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(f"in{i}", TensorProto.FLOAT, s) for i, s in enumerate(inputs)]
    outs = [helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, s) for i, s in enumerate(outputs)]
    nodes = [helper.make_node("Identity", [f"in{min(i, len(inputs) - 1)}"], [f"out{i}"]) for i in range(len(outputs))]
    graph = helper.make_graph(nodes, "wrong_io", ins, outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _loaders():
    from osld.detector import load_detector
    from osld.embedder import load_embedder

    return {"detector": load_detector, "embedder": load_embedder}


# (input shapes, output shapes) of a valid ONNX graph with the wrong interface; None = random bytes
WRONG_MODELS = {
    "random_bytes": {"detector": None, "embedder": None},
    "two_inputs": {w: ([["n", 3, 64, 64], ["n", 3, 64, 64]], [["n", 5, 100]]) for w in ("detector", "embedder")},
    "two_outputs": {w: ([["n", 3, 64, 64]], [["n", 5, 100], ["n", 5, 100]]) for w in ("detector", "embedder")},
    "rank2_input": {w: ([["n", 16]], [["n", 16]]) for w in ("detector", "embedder")},
    "one_channel_input": {"detector": ([["n", 1, 64, 64]], [["n", 5, 100]]),
                          "embedder": ([["n", 1, 64, 64]], [["n", 1, 64, 64]])},
    "image_output": {"embedder": ([["n", 3, 64, 64]], [["n", 3, 64, 64]])},
}


@pytest.mark.parametrize(("case", "which"), [(c, w) for c in sorted(WRONG_MODELS) for w in WRONG_MODELS[c]])
def test_wrong_onnx_files_raise_model_load_error_naming_the_file(tmp_path, which, case):
    io_spec = WRONG_MODELS[case][which]
    path = tmp_path / f"my {which}.onnx"
    if io_spec is None:
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        _onnx_model(path, *io_spec)
    with pytest.raises(ModelLoadError) as info:
        _loaders()[which](path, device="cpu")
    assert str(path) in str(info.value)


@pytest.mark.parametrize("which", ["detector", "embedder"])
def test_missing_model_file_raises_model_load_error(tmp_path, which):
    with pytest.raises(ModelLoadError, match="not found"):
        _loaders()[which](tmp_path / "nope.onnx")


def test_every_torch_load_uses_weights_only():
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                ok = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                         for k in node.keywords)
                if not ok:
                    offenders.append(f"{path.relative_to(SRC.parent)}:{node.lineno}")
    assert not offenders, f"torch.load without weights_only=True: {offenders}"


def test_unidentified_image_error_survives_ultralytics_patching_pil(tmp_path, monkeypatch):
    """ultralytics replaces PIL.Image.open with a wrapper that tries to pip-install a plugin for unknown files."""
    import types

    from PIL import Image

    from osld.data.images import load_image

    original = Image.open
    fake = types.ModuleType("ultralytics.utils.patches")
    fake._image_open = original

    def patched(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'pi_heif'")

    patched.__module__ = "ultralytics.utils.patches"
    monkeypatch.setitem(sys.modules, "ultralytics.utils.patches", fake)
    monkeypatch.setattr(Image, "open", patched)
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    with pytest.raises(ImageReadError, match="not a recognised image format"):
        load_image(bad)
