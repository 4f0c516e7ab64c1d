#!/usr/bin/env python
"""Re-run osld's reliability audit against the installed (or PYTHONPATH) osld and print one line per check.

Checks (each one was a real defect once; see issue 13):

  mutations   a corpus of byte-mutated image files (flips, cuts, inserts, duplicated and zeroed ranges of PNG,
              JPEG, GIF, WebP, BMP, TIFF): `osld detect` writes exactly one record per file and no traceback
  fifo        a FIFO among the images: an error record for it, the other images written, no hang
  kill-jsonl  kill -9 during `osld detect --format jsonl`, then --resume: every image exactly once
  kill-csv    the same for CSV, with the kill landing inside one image's rows: every image's rows complete, once
  resume-cwd  --resume from another working directory skips what is done
  register    concurrent `osld register` of the same brand and the same file names: every file kept, index valid
  corrupt     each corruption of .osld/ (vectors, manifest, index.faiss: garbage, truncated, 0-byte, missing,
              swapped; .osld as a file): detected and repaired, or one line of error; never a traceback
  symlink     a brand folder linked outside the registry: register and remove refuse, nothing written outside

Usage: python scripts/audit.py [--only CHECK ...] [--mutations N] [--work DIR] [--json FILE]
Exit status 0 when every check passes. Needs the shipped weights (weights/*.onnx); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

OSLD = [sys.executable, "-m", "osld.cli"]
CHECKS: dict[str, Callable[[Path, argparse.Namespace], str]] = {}


def check(name: str):
    def register(fn):
        CHECKS[name] = fn
        return fn

    return register


class AuditFailure(AssertionError):
    pass


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise AuditFailure(message)


# ---------- inputs ----------
def draw(seed: int, size: tuple[int, int] = (160, 120), alpha: bool = False) -> Image.Image:
    """A seeded picture: gradient, noise, a few filled shapes (enough structure for every codec to work on)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(40, 220, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    base += rng.normal(0, 12, (h, w, 3))
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(4):
        x, y = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        r = int(rng.integers(8, 40))
        d.ellipse((x, y, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    if alpha:
        img.putalpha(Image.fromarray((rng.random((h, w)) > 0.3).astype(np.uint8) * 255, "L"))
    return img


def base_files(seed: int = 0) -> dict[str, bytes]:
    """Valid files of every format osld reads, keyed by a name with the right extension."""
    out = {}

    def save(name: str, img: Image.Image, **kw) -> None:
        buf = io.BytesIO()
        img.save(buf, **kw)
        out[name] = buf.getvalue()

    save("rgb.png", draw(seed), format="PNG")
    save("rgba.png", draw(seed + 1, alpha=True), format="PNG")
    save("palette.png", draw(seed + 2).convert("P"), format="PNG")
    save("base.jpg", draw(seed + 3), format="JPEG", quality=85)
    save("progressive.jpg", draw(seed + 4), format="JPEG", progressive=True, quality=70)
    frames = [draw(seed + 5 + i).convert("P") for i in range(3)]
    save("anim.gif", frames[0], format="GIF", save_all=True, append_images=frames[1:], duration=50)
    save("lossy.webp", draw(seed + 8), format="WEBP", quality=60)
    save("plain.bmp", draw(seed + 9, (64, 48)), format="BMP")
    save("pages.tif", draw(seed + 10), format="TIFF", save_all=True, append_images=[draw(seed + 11)])
    return out


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to three random mutations of ``data``: bit flips, a cut, an insert, a duplicated or zeroed range."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        n = len(buf)
        if n < 4:
            break
        op = int(rng.integers(7))
        i = int(rng.integers(0, n))
        j = min(n, i + int(rng.integers(1, max(2, n // 8))))
        if op == 0:  # flip a few bytes anywhere
            for k in rng.integers(0, n, int(rng.integers(1, 9))):
                buf[int(k)] ^= int(rng.integers(1, 256))
        elif op == 1:  # flip bytes in the header, where the sizes and chunk lengths are
            for k in rng.integers(0, min(n, 64), int(rng.integers(1, 5))):
                buf[int(k)] ^= int(rng.integers(1, 256))
        elif op == 2:  # truncate
            del buf[i:]
        elif op == 3:  # insert random bytes
            buf[i:i] = rng.bytes(int(rng.integers(1, 64)))
        elif op == 4:  # delete a range
            del buf[i:j]
        elif op == 5:  # duplicate a range
            buf[i:i] = buf[i:j]
        else:  # zero a range
            buf[i:j] = bytes(j - i)
    return bytes(buf)


def mutation_corpus(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Write ``n`` mutated image files into ``folder`` (names keep their format's extension); returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    bases = list(base_files(seed).items())
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        name, data = bases[k % len(bases)]
        p = folder / f"m{k:04d}_{name}"
        p.write_bytes(mutate(data, rng))
        paths.append(p)
    return paths


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run(cmd: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    expect("Traceback" not in proc.stderr and "Aborted" not in proc.stderr,
           f"traceback: {proc.stderr.strip().splitlines()[-1:]} ")


def scenes(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"scene_{i:03d}.png"
        draw(1000 + i, (320, 240)).save(p)
        paths.append(p)
    return paths


def logo(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw(seed, (96, 96), alpha=True).save(path)
    return path


# ---------- checks ----------
@check("mutations")
def check_mutations(work: Path, args: argparse.Namespace) -> str:
    files = mutation_corpus(work / "corpus", args.mutations, args.seed)
    out = work / "mutations.jsonl"
    proc = run([*OSLD, "detect", str(work / "corpus"), "--out", str(out), "--no-progress"])
    no_traceback(proc)
    expect(proc.returncode in (0, 1), f"exit {proc.returncode}")
    recs = records(out)
    expect(sorted(r["image"] for r in recs) == sorted(map(str, files)), "not exactly one record per file")
    failed = sum(r["error"] is not None for r in recs)
    return f"{len(files)} files, {len(files) - failed} decoded, {failed} error records, 0 crashes"


@check("fifo")
def check_fifo(work: Path, args: argparse.Namespace) -> str:
    if not hasattr(os, "mkfifo"):
        return "skipped (no FIFOs on this platform)"
    folder = work / "fifo"
    imgs = scenes(folder, 3)
    os.mkfifo(folder / "scene_001b.png")
    out = work / "fifo.jsonl"
    try:
        proc = run([*OSLD, "detect", str(folder), "--out", str(out), "--no-progress"], timeout=120)
    except subprocess.TimeoutExpired:
        raise AuditFailure("osld detect hung on a FIFO") from None
    no_traceback(proc)
    recs = {Path(r["image"]).name: r for r in records(out)}
    expect({p.name for p in imgs} <= set(recs), "images next to the FIFO were not written")
    expect("not a regular file" in (recs.get("scene_001b.png", {}).get("error") or ""), "no error record for FIFO")
    return "error record for the FIFO, 3 images written"


def _kill(work: Path, fmt: str, n: int) -> tuple[Path, list[Path], list[str]]:
    """Start `osld detect` on ``n`` images and kill -9 it after a few records; returns (out, images, command)."""
    folder = work / f"kill_{fmt}"
    imgs = scenes(folder, n)
    out = work / f"kill.{fmt}"
    cmd = [*OSLD, "detect", str(folder), "--out", str(out), "--format", fmt, "--batch-size", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    expect(proc.returncode != 0, "finished before the kill; use more images")
    return out, imgs, cmd


@check("kill-jsonl")
def check_kill_jsonl(work: Path, args: argparse.Namespace) -> str:
    out, imgs, cmd = _kill(work, "jsonl", args.images)
    with open(out, "ab") as f:  # the worst case: the kill landed in the middle of a line
        f.write(b'{"image": "x')
    proc = run([*cmd, "--resume"])
    no_traceback(proc)
    expect(proc.returncode == 0, proc.stderr)
    names = Counter(r["image"] for r in records(out))
    expect(names == Counter(map(str, imgs)), "lost or duplicated images")
    return f"{len(imgs)} images, each exactly once after kill -9 + --resume"


@check("kill-csv")
def check_kill_csv(work: Path, args: argparse.Namespace) -> str:
    out, imgs, cmd = _kill(work, "csv", args.images)
    done = {r["abspath"] for r in csv.DictReader(out.open(newline="", encoding="utf-8"))}
    torn = next(p for p in imgs if os.path.abspath(p) not in done)
    header = next(csv.reader(out.open(newline="", encoding="utf-8")))
    with open(out, "a", newline="", encoding="utf-8") as f:  # the worst case: 1 of an image's 3 rows written
        row = {"image": str(torn), "abspath": os.path.abspath(torn), "image_rows": 3, "width": 320, "height": 240}
        csv.DictWriter(f, fieldnames=header, restval="").writerow({k: v for k, v in row.items() if k in header})
    proc = run([*cmd, "--resume"])
    no_traceback(proc)
    expect(proc.returncode == 0, proc.stderr)
    groups: list[list[dict]] = []
    for r in csv.DictReader(out.open(newline="", encoding="utf-8")):
        if groups and groups[-1][0]["abspath"] == r["abspath"]:
            groups[-1].append(r)
        else:
            groups.append([r])
    keys = [g[0]["abspath"] for g in groups]
    expect(sorted(keys) == sorted(os.path.abspath(p) for p in imgs), "lost or duplicated images")
    expect(all(len(g) == int(g[0]["image_rows"]) for g in groups), "an image with missing rows")
    return f"{len(imgs)} images, every image's rows complete and once after kill -9, a torn image, --resume"


@check("resume-cwd")
def check_resume_cwd(work: Path, args: argparse.Namespace) -> str:
    (work / "cwd").mkdir(exist_ok=True)
    scenes(work / "cwd" / "imgs", 4)
    out = work / "cwd.jsonl"
    first = run([*OSLD, "detect", "imgs", "--out", str(out), "--no-progress"], cwd=work / "cwd")
    expect(first.returncode == 0, first.stderr)
    again = run([*OSLD, "detect", "cwd/imgs", "--out", str(out), "--resume", "--no-progress"], cwd=work)
    expect(again.returncode == 0, again.stderr)
    expect(len(records(out)) == 4, f"{len(records(out))} records for 4 images: resume re-did images")
    return "4 images done from one directory are skipped when resumed from another"


@check("register")
def check_register(work: Path, args: argparse.Namespace) -> str:
    reg = work / "reg_concurrent"
    procs, expected = [], set()
    for w in range(args.registers):
        files = [logo(work / f"writer{w}" / f"logo{i}.png", 100 * w + i) for i in range(5)]
        expected |= {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
        procs.append(subprocess.Popen([*OSLD, "register", "acme", *map(str, files), "--registry", str(reg)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=600)
        expect(p.returncode == 0, err)
    kept = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (reg / "acme").glob("*.png")}
    expect(kept == expected, f"{len(kept)} of {len(expected)} files kept")
    from osld.embedder import load_embedder
    from osld.pipeline import default_weights_dir
    from osld.registry import Registry

    stats = Registry(reg, load_embedder(default_weights_dir() / "embedder.onnx")).sync()
    expect(stats["kept"] == len(expected) and stats["added"] == 0, f"index not consistent: {stats}")
    return f"{args.registers} writers x 5 same-named files: {len(kept)} of {len(expected)} kept and indexed"


def _corruptions(index_dir: Path, other: Path) -> dict[str, Callable[[], None]]:
    def cut(name):
        return lambda: (index_dir / name).write_bytes((index_dir / name).read_bytes()[:50])

    def as_file():
        shutil.rmtree(index_dir)
        index_dir.write_text("not a folder")

    return {
        "vectors garbage": lambda: (index_dir / "vectors.npy").write_bytes(os.urandom(300)),
        "vectors truncated": cut("vectors.npy"),
        "vectors 0-byte": lambda: (index_dir / "vectors.npy").write_bytes(b""),
        "vectors missing": lambda: (index_dir / "vectors.npy").unlink(),
        "manifest truncated": cut("manifest.json"),
        "manifest garbage": lambda: (index_dir / "manifest.json").write_text("[1, 2"),
        "manifest missing": lambda: (index_dir / "manifest.json").unlink(),
        "index garbage": lambda: (index_dir / "index.faiss").write_bytes(os.urandom(300)),
        "index 0-byte": lambda: (index_dir / "index.faiss").write_bytes(b""),
        "index missing": lambda: (index_dir / "index.faiss").unlink(),
        "index swapped": lambda: shutil.copyfile(other / "index.faiss", index_dir / "index.faiss"),
        ".osld is a file": as_file,
    }


@check("corrupt")
def check_corrupt(work: Path, args: argparse.Namespace) -> str:
    from osld.embedder import load_embedder
    from osld.errors import RegistryError
    from osld.pipeline import default_weights_dir
    from osld.registry import Registry

    emb = load_embedder(default_weights_dir() / "embedder.onnx")

    def build(root: Path, seeds: list[int]) -> Registry:
        for brand, s in zip(["acme", "globex", "initech"], seeds, strict=True):
            logo(root / brand / "a.png", s)
        reg = Registry(root, emb)
        reg.sync()
        return reg

    other = build(work / "reg_other", [3, 1, 2]).index_dir  # same images, brands permuted: same shapes
    names = list(_corruptions(work, other))
    for k, name in enumerate(names):
        root = work / f"reg_corrupt_{k}"
        build(root, [1, 2, 3])
        _corruptions(root / ".osld", other)[name]()
        reg = Registry(root, emb)
        try:
            reg.sync()
        except RegistryError as e:
            expect(name == ".osld is a file" and "\n" not in str(e), f"{name}: {e}")
            continue
        for row, brand in enumerate(reg.row_brands):
            got = reg.search(reg.vectors[row: row + 1], k=1)[0][0].brand
            expect(got == brand, f"{name}: row of {brand} found {got}")
        expect(Registry(root, emb).sync()["kept"] == 3, f"{name}: not repaired on disk")
    return f"{len(names)} corruptions: each repaired (or one-line error) and searches right"


@check("symlink")
def check_symlink(work: Path, args: argparse.Namespace) -> str:
    reg, outside = work / "reg_link", work / "outside"
    logo(reg / "globex" / "a.png", 1)
    outside.mkdir(exist_ok=True)
    os.symlink(outside, reg / "acme", target_is_directory=True)
    p = logo(work / "l.png", 2)
    for cmd in (["register", "acme", str(p), "--registry", str(reg)], ["registry", "remove", "acme", "--registry",
                                                                         str(reg)]):
        proc = run([*OSLD, *cmd])
        no_traceback(proc)
        expect(proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, f"{cmd[0]}: {proc.stderr}")
    expect(not any(outside.iterdir()), "wrote outside the registry")
    return "register and remove refuse a brand folder linked outside; nothing written outside"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--only", nargs="+", choices=list(CHECKS), help="Run only these checks.")
    ap.add_argument("--mutations", type=int, default=600, help="Mutated files in the corpus (default 600).")
    ap.add_argument("--images", type=int, default=24, help="Images per kill -9 run (default 24).")
    ap.add_argument("--registers", type=int, default=4, help="Concurrent register processes (default 4).")
    ap.add_argument("--seed", type=int, default=0, help="Corpus seed.")
    ap.add_argument("--work", type=Path, help="Keep the work files here (default: a temporary folder).")
    ap.add_argument("--json", type=Path, help="Also write the results as JSON.")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="osld-audit-"))
    results, ok = {}, True
    for name in args.only or list(CHECKS):
        sub = work / name
        shutil.rmtree(sub, ignore_errors=True)
        sub.mkdir(parents=True)
        started = time.time()
        try:
            detail, passed = CHECKS[name](sub, args), True
        except (AuditFailure, subprocess.TimeoutExpired) as e:
            detail, passed = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__, False
        ok &= passed
        results[name] = {"passed": passed, "detail": detail, "seconds": round(time.time() - started, 1)}
        print(f"{'PASS' if passed else 'FAIL'}  {name:<11} {detail} ({results[name]['seconds']} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
