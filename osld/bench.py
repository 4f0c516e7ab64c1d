"""``osld bench``: end-to-end throughput, per-stage latency, registry scale and the compute bound, with a reference.

Everything runs in one process, on the same images and with the same thread settings:

* **osld** (the default path of ``osld detect``): ``Pipeline.from_pretrained`` + ``Pipeline.run`` + the JSONL
  ``ResultWriter``, single-image (``batch_size=1``) and batched (``batch_size=8``). The detector, embedder,
  their ONNX sessions and the registry are wrapped in thin timing proxies, so the per-stage times come from the
  real code path, not from a re-implementation of it.
* **reference**: a two-stage pipeline of the kind users assemble today (Logodetect/logohunter style):
  torchvision Faster R-CNN ResNet-50-FPN at its default ``min_size=800``, the top-10 RPN proposals cropped to
  224 px, ResNet-50 features, flat inner-product search. Random weights (timing only; nothing is downloaded).
  Skipped with a message when torch/torchvision are missing (they are in the ``[train]`` extra).
* **registry scale**: faiss flat (float), binary flat (sign bits), HNSW and IVF on random unit vectors.
* **register**: ``Registry.add`` + ``Registry.sync`` of generated PNGs (what ``osld register`` does).
* **compute bound**: model FLOPs counted from the ONNX graphs against a measured float32 matmul peak.

Benchmarks are measurements, not tests: nothing here asserts a time.

Example:
    >>> from osld.bench import BenchConfig, run_bench, format_table
    >>> result = run_bench(BenchConfig(quick=True))
    >>> print(format_table(result))
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from osld.errors import ConfigError, ImageReadError, OsldError
from osld.registry import faiss_threads

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "datasets" / "demo"
REGISTRY_SIZES = (1_000, 10_000, 100_000, 1_000_000)
SEARCH_ROWS = 64  # rows Registry.search asks faiss for (max(64, 8 * top_k)); used for every index here
QUERY_BATCH = 32  # queries per search call in the batched registry measurement
REFERENCE_TOP_N = 10  # proposals per image the reference embeds
FIXED_CROPS = REFERENCE_TOP_N  # crops per image of osld's equal-work measurement
MIN_DEMO_SIDE = 480  # demo photos smaller than this (emblem crops) are not "640px-class"
REFERENCE_CROP = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class BenchDevice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@dataclass(frozen=True)
class BenchConfig:
    """What ``run_bench`` measures. ``None`` fields take the full-run or ``quick`` default.

    Attributes:
        images: folder of photos (searched recursively); default ``datasets/demo/images`` when present.
        registry: registry folder used end to end; default ``datasets/demo/logos`` when present, else generated.
        quick: small sizes for a smoke run (a few images, registry scale up to 1e4, 20 registered images).
        synthetic: generated 640x480 JPEG scenes added to the photos (default 32, quick 2; 0 with ``images``).
        max_images: photos taken from the folder at most (default 64, quick 2).
        max_registry: largest registry-scale size (default 1e6, quick 1e4).
        register_images: PNGs registered in the ``osld register`` measurement (default 1000, quick 20).
        registry_brands: brands in the generated end-to-end registry (default 100, quick 10).
        batch_size: images per model call in the batched run (``osld detect``'s default).
        passes: timed passes over the images per mode (default 3, quick 1); the median pass is reported.
        threads: onnxruntime intra-op, faiss OpenMP and torch threads (default: usable cores).
        device: ``auto`` (CUDA when onnxruntime-gpu sees a GPU), ``cpu`` or ``cuda``.
        detector: detector ONNX (default: shipped weights).
        embedder: embedder ONNX (default: shipped weights).
        reference: also time the torchvision reference pipeline.
        reference_images: images the reference runs on, evenly spaced over the set (default 16, quick 2).
        reference_min_size: the reference detector's ``min_size`` (torchvision's default 800; lower only to
            smoke-test the code path).
        queries: registry-scale queries per size (default 200, quick 64).
        seed: seed of every generated image and vector.
        work_dir: scratch folder (default: a temporary folder removed afterwards).
    """

    images: Path | None = None
    registry: Path | None = None
    quick: bool = False
    synthetic: int | None = None
    max_images: int | None = None
    max_registry: int | None = None
    register_images: int | None = None
    registry_brands: int | None = None
    batch_size: int = 8
    passes: int | None = None
    threads: int | None = None
    device: str = "auto"
    detector: Path | None = None
    embedder: Path | None = None
    reference: bool = True
    reference_images: int | None = None
    reference_min_size: int = 800
    queries: int | None = None
    seed: int = 0
    work_dir: Path | None = None

    def __post_init__(self) -> None:
        for name in ("synthetic", "max_images", "register_images", "queries"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
        for name in ("batch_size", "passes", "threads", "max_registry", "registry_brands", "reference_images",
                     "reference_min_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.device not in {d.value for d in BenchDevice}:
            raise ConfigError(f"device must be one of auto, cpu, cuda; got {self.device!r}")
        if self.images is not None and not Path(self.images).is_dir():
            raise ConfigError(f"--images {self.images}: not a folder")

    def resolved(self) -> BenchConfig:
        """A copy with every ``None`` default filled in for the quick or the full run."""
        q = self.quick
        return replace(
            self,
            synthetic=self.synthetic if self.synthetic is not None else (0 if self.images else (2 if q else 32)),
            max_images=self.max_images if self.max_images is not None else (2 if q else 64),
            max_registry=self.max_registry or (10_000 if q else 1_000_000),
            register_images=self.register_images if self.register_images is not None else (20 if q else 1000),
            registry_brands=self.registry_brands or (10 if q else 100),
            passes=self.passes or (1 if q else 3),
            threads=self.threads or usable_cores(),
            reference_images=self.reference_images or (2 if q else 16),
            queries=self.queries if self.queries is not None else (64 if q else 200),
        )


# ---------------------------------------------------------------- machine


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _load_avg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, load and library versions, for the JSON record."""
    import faiss
    import numpy as np
    import onnxruntime

    from osld import __version__

    physical = None
    with contextlib.suppress(ImportError):
        import psutil

        physical = psutil.cpu_count(logical=False)
    versions = {"osld": __version__, "numpy": np.__version__, "onnxruntime": onnxruntime.__version__,
                "faiss": faiss.__version__, "python": platform.python_version()}
    for name in ("torch", "torchvision"):  # metadata only: importing torch here would inflate the osld RSS
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {"cpu_model": cpu_model(), "logical_cores": os.cpu_count(), "physical_cores": physical,
            "usable_cores": usable_cores(), "platform": platform.platform(), "load_avg_start": _load_avg(),
            "onnxruntime_providers": onnxruntime.get_available_providers(), "versions": versions}


# ---------------------------------------------------------------- memory and timing helpers


def _rss_bytes() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss


def _ru_maxrss_bytes() -> int:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class RssSampler:
    """Samples the process RSS in a thread while the block runs; ``peak_mb`` is the largest value seen.

    Without psutil it falls back to the kernel's lifetime peak (``ru_maxrss``), which may include earlier work.
    """

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.peak = 0
        self.method = "psutil" if _rss_bytes() is not None else "ru_maxrss"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes() or 0)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        if self.method == "psutil":
            self.peak = _rss_bytes() or 0
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes() or 0)
        else:
            self.peak = _ru_maxrss_bytes()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)


class StageClock:
    """Accumulated seconds, calls and items per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.items: dict[str, int] = {}

    def add(self, name: str, seconds: float, items: int = 0) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1
        self.items[name] = self.items.get(name, 0) + items

    def get(self, name: str) -> float:
        return self.seconds.get(name, 0.0)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.items.clear()

    @contextlib.contextmanager
    def time(self, name: str, items: int = 0) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start, items)


class _Timed:
    """Delegates every attribute to ``inner``; the methods named in ``methods`` are timed into ``clock``."""

    def __init__(self, inner: Any, clock: StageClock, methods: dict[str, str]):
        self._inner = inner
        self._clock = clock
        self._methods = methods

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        stage = self._methods.get(name)
        if stage is None or not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else None
            with self._clock.time(stage, items=len(first) if isinstance(first, list) else 0):
                return attr(*args, **kwargs)

        return timed


def _timed_method(method: Callable[..., Any], clock: StageClock, stage: str) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        with clock.time(stage):
            return method(*args, **kwargs)

    return timed


def _ms(seconds: float, n: int) -> float:
    return round(1000.0 * seconds / max(n, 1), 3)


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


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


# ---------------------------------------------------------------- osld end to end


def fixed_boxes(width: int, height: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random float32 (n, 4) xyxy boxes inside a width x height image, 10-40% of its sides."""
    import numpy as np

    wh = rng.uniform(0.1, 0.4, (n, 2)) * (width, height)
    x1y1 = rng.uniform(0.0, 1.0, (n, 2)) * ((width, height) - wh)
    return np.concatenate([x1y1, x1y1 + wh], axis=1).astype(np.float32)


def _timed_pass(pipe: Any, paths: list[Path], batch_size: int, out_file: Path, clock: StageClock) -> dict[str, Any]:
    """One ``Pipeline.run`` pass writing JSONL, with the clock reset first; returns seconds and counts."""
    from osld.output import ResultWriter

    clock.reset()
    n_boxes = n_failed = 0
    gaps: list[float] = []
    with ResultWriter(out_file, "jsonl") as writer:
        start = last = time.perf_counter()
        for res in pipe.run(paths, batch_size=batch_size):
            with clock.time("write"):
                writer.write(res.path, res.detections, res.error)
            n_failed += res.error is not None
            n_boxes += len(res.detections) if res.detections is not None else 0
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
        wall = time.perf_counter() - start - clock.get("sync")  # run() re-syncs the registry once per call
    return {"seconds": wall, "gaps": gaps, "boxes": n_boxes, "failed": n_failed,
            "clock": {k: (clock.seconds[k], clock.items[k]) for k in clock.seconds}}


def _stage_latency(passes: list[dict], n: int, decode_ms: float) -> dict[str, float]:
    """Mean ms per image per stage over the passes; ``other`` is the wall time not covered by a stage."""
    total = sum(p["seconds"] for p in passes)
    count = n * len(passes)

    def stage(name: str) -> float:
        return sum(p["clock"].get(name, (0.0, 0))[0] for p in passes)

    out = {"decode": round(decode_ms, 3), "detect": _ms(stage("detect"), count),
           "crop_embed": _ms(stage("embed"), count), "search": _ms(stage("search"), count),
           "write": _ms(stage("write"), count)}
    covered = stage("detect") + stage("embed") + stage("search") + stage("write")
    out["other"] = _ms(max(0.0, total - covered), count)
    out["total"] = _ms(total, count)
    return out


def bench_osld(cfg: BenchConfig, paths: list[Path], registry_root: Path, work: Path,
               progress: Progress = _quiet) -> dict[str, Any]:
    """Time the default ``osld detect`` path, single-image and batched, with per-stage latencies."""
    import numpy as np

    from osld.data.images import load_image
    from osld.pipeline import Pipeline, crop_regions
    from osld.registry import Registry

    threads = cfg.threads or usable_cores()
    clock = StageClock()
    start = time.perf_counter()
    base = Pipeline.from_pretrained(detector=cfg.detector, embedder=cfg.embedder, device=cfg.device, threads=threads)
    startup_ms = (time.perf_counter() - start) * 1000
    det, emb = base.detector, base.embedder
    providers = det.session.get_providers() if hasattr(det, "session") else []
    for model, stage in ((det, "detect_infer"), (emb, "embed_infer")):
        if hasattr(model, "session"):  # time the ONNX calls inside detect()/embed() too
            model.session = _Timed(model.session, clock, {"run": stage})
    registry = Registry(registry_root, emb)
    registry.search = _timed_method(registry.search, clock, "search")  # this instance only
    registry.sync = _timed_method(registry.sync, clock, "sync")
    progress(f"indexing the registry {registry_root} ...")
    sync_start = time.perf_counter()
    registry.sync()
    registry_sync_s = time.perf_counter() - sync_start
    pipe = Pipeline(_Timed(det, clock, {"detect": "detect"}), _Timed(emb, clock, {"embed": "embed"}), registry,
                    base.match, base.max_side)

    decode_s, sizes, first, ok_paths = [], [], [], []
    for p in paths:
        t0 = time.perf_counter()
        try:
            loaded = load_image(p, pipe.max_side)
        except ImageReadError as e:  # Pipeline.run reports it per image too (``failed_images``)
            progress(f"skipped in the decode timing: {e}")
            continue
        decode_s.append(time.perf_counter() - t0)
        ok_paths.append(p)
        sizes.append((loaded.width, loaded.height))
        if len(first) < cfg.batch_size:
            first.append(loaded.pixels)
    if not first:
        raise ImageReadError("none of the benchmark images could be decoded")
    decode_ms = 1000 * statistics.fmean(decode_s)
    pipe.process(first[:1])  # warm-up: first ONNX calls allocate their buffers
    pipe.process(first)
    scan_s = []
    for _ in range(3):
        t0 = time.perf_counter()
        registry._scan_state()  # what every Registry.search call pays before searching (``_ensure_synced``)
        scan_s.append(time.perf_counter() - t0)

    modes: dict[str, list[dict]] = {}
    for label, bs in (("single", 1), ("batched", cfg.batch_size)):
        progress(f"osld: {cfg.passes} pass(es) over {len(paths)} images, batch_size={bs} ...")
        modes[label] = [_timed_pass(pipe, paths, bs, work / f"osld_{label}.jsonl", clock) for _ in range(cfg.passes)]

    progress(f"osld: embed + search of {FIXED_CROPS} fixed crops per image (the reference's N) ...")
    fixed: dict[int, StageClock] = {}
    for n_faiss in dict.fromkeys((threads, 1)):  # faiss's default (all cores) and single-threaded
        fixed[n_faiss] = clock_ft = StageClock()
        rng = np.random.default_rng([cfg.seed, 9])
        with faiss_threads(n_faiss):
            for _ in range(cfg.passes or 1):
                for pixels in first:
                    xyxy = fixed_boxes(pixels.shape[1], pixels.shape[0], FIXED_CROPS, rng)
                    with clock_ft.time("crop_embed"):
                        vectors = emb.embed(crop_regions(pixels, xyxy, pipe.match.crop_margin))
                    with clock_ft.time("search"):
                        registry.search(vectors, k=pipe.match.top_k)
    n_fixed = len(first) * (cfg.passes or 1)

    def throughput(passes: list[dict]) -> float:
        return statistics.median(len(paths) / p["seconds"] for p in passes)

    batched = modes["batched"]
    n_all = len(paths) * len(batched)

    def clocked(name: str) -> tuple[float, int]:
        secs = sum(p["clock"].get(name, (0.0, 0))[0] for p in batched)
        items = sum(p["clock"].get(name, (0.0, 0))[1] for p in batched)
        return secs, items

    crops = clocked("embed")[1]
    gaps_ms = sorted(1000 * g for p in modes["single"] for g in p["gaps"])
    return {
        "providers": providers,
        "startup_ms": round(startup_ms, 1),
        "registry_sync_s": round(registry_sync_s, 3),
        "registry_rows": len(registry.row_paths),
        "registry_brands": len(set(registry.row_brands)),
        "images_per_s": round(throughput(batched), 3),
        "images_per_s_single": round(throughput(modes["single"]), 3),
        "latency_ms": _stage_latency(modes["single"], len(paths), decode_ms),
        "latency_ms_batched": _stage_latency(batched, len(paths), decode_ms),
        "latency_single_p50_ms": round(float(np.percentile(gaps_ms, 50)), 3),
        "latency_single_p95_ms": round(float(np.percentile(gaps_ms, 95)), 3),
        "breakdown_ms_per_image": {
            "detect_pre_post": _ms(clocked("detect")[0] - clocked("detect_infer")[0], n_all),
            "detect_infer": _ms(clocked("detect_infer")[0], n_all),
            "embed_pre_post": _ms(clocked("embed")[0] - clocked("embed_infer")[0], n_all),
            "embed_infer": _ms(clocked("embed_infer")[0], n_all),
            "registry_scan_once_per_run": round(1000 * min(scan_s), 3),
        },
        "fixed_crops_ms_per_image": {"crops": FIXED_CROPS, "faiss_threads": threads,
                                     "crop_embed": _ms(fixed[threads].get("crop_embed"), n_fixed),
                                     "search": _ms(fixed[threads].get("search"), n_fixed),
                                     "search_faiss_1_thread": _ms(fixed[1].get("search"), n_fixed)},
        "boxes_per_image": round(batched[0]["boxes"] / len(paths), 3),
        "crops_per_image": round(crops / n_all, 3),
        "failed_images": batched[0]["failed"],
        "image_sizes": {"mean_width": round(statistics.fmean(w for w, _ in sizes), 1),
                        "mean_height": round(statistics.fmean(h for _, h in sizes), 1)},
        "_ok_paths": ok_paths,
        "_model_seconds": clocked("detect_infer")[0] + clocked("embed_infer")[0],
        "_model_images": n_all,
        "_model_crops": crops,
    }


# ---------------------------------------------------------------- reference two-stage pipeline


def _evenly(paths: Sequence[Path], n: int) -> list[Path]:
    if n >= len(paths):
        return list(paths)
    step = len(paths) / n
    return [paths[int(i * step)] for i in range(n)]


def bench_reference(paths: list[Path], threads: int, registry_rows: int, work: Path, min_size: int = 800,
                    use_cuda: bool = False, seed: int = 0, progress: Progress = _quiet) -> dict[str, Any]:
    """Time a Faster R-CNN R50-FPN + ResNet-50 two-stage pipeline (random weights) image by image.

    Per image: decode (same loader as osld), detect at ``min_size``, crop the top-10 RPN proposals to 224 px and
    embed them with ResNet-50 (2048-d, L2-normalized), flat inner-product search over ``registry_rows`` random
    vectors, write one JSONL record. torch threads are set to ``threads`` for the run and restored afterwards.

    Returns:
        images/s, per-stage latency, peak RSS and FLOPs per image; ``{"skipped": reason}`` without torch.
    """
    try:
        import torch
        import torchvision
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return {"skipped": "torch/torchvision not installed (pip install 'osld[train]'); reference not run"}
    import cv2
    import faiss
    import numpy as np

    from osld.data.images import load_image
    from osld.output import ResultWriter
    from osld.pipeline import crop_regions
    from osld.types import Detections

    device = torch.device("cuda" if use_cuda and torch.cuda.is_available() else "cpu")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with RssSampler() as rss:
            detector = torchvision.models.detection.fasterrcnn_resnet50_fpn(
                weights=None, weights_backbone=None, min_size=min_size).eval().to(device)
            backbone = torchvision.models.resnet50(weights=None)
            backbone.fc = torch.nn.Identity()
            backbone = backbone.eval().to(device)
            captured: dict[str, Any] = {}

            def keep_proposals(module: Any, args: tuple, output: tuple) -> None:
                captured["sizes"] = args[0].image_sizes
                captured["boxes"] = output[0]

            hook = detector.rpn.register_forward_hook(keep_proposals)
            rng = np.random.default_rng([seed, 3])
            vectors = rng.standard_normal((registry_rows, 2048), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index = faiss.IndexFlatIP(2048)
            index.add(vectors)
            mean = np.array(IMAGENET_MEAN, np.float32) * 255
            std = np.array(IMAGENET_STD, np.float32) * 255
            clock = StageClock()

            def one(path: Path, writer: ResultWriter) -> None:
                with clock.time("decode"):
                    loaded = load_image(path)
                pixels = loaded.pixels
                with clock.time("detect"), torch.inference_mode():
                    x = torch.from_numpy(np.array(pixels)).to(device).permute(2, 0, 1).float().div_(255.0)
                    detector([x])
                    sync()
                    (rh, rw), boxes = captured["sizes"][0], captured["boxes"][0][:REFERENCE_TOP_N]
                    xyxy = boxes.float().cpu().numpy() * np.array(
                        [pixels.shape[1] / rw, pixels.shape[0] / rh] * 2, np.float32)
                with clock.time("crop_embed"), torch.inference_mode():
                    crops = [cv2.resize(c, (REFERENCE_CROP, REFERENCE_CROP), interpolation=cv2.INTER_LINEAR)
                             for c in crop_regions(pixels, xyxy, 0.0)]
                    batch = (np.stack(crops).astype(np.float32) - mean) / std
                    feats = backbone(torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()).to(device))
                    feats = torch.nn.functional.normalize(feats, dim=1).cpu().numpy()
                with clock.time("search"):
                    index.search(np.ascontiguousarray(feats), min(SEARCH_ROWS, registry_rows))
                with clock.time("write"):
                    writer.write(path, Detections(xyxy, np.ones(len(xyxy), np.float32)), None)

            with ResultWriter(work / "reference.jsonl", "jsonl") as writer:
                progress("reference: warm-up and FLOP count on the first image ...")
                flops = FlopCounterMode(display=False)
                with flops:
                    one(paths[0], writer)
                progress(f"reference: {len(paths)} images, one at a time ...")
                clock.reset()
                start = time.perf_counter()
                for p in paths:
                    one(p, writer)
                wall = time.perf_counter() - start
            hook.remove()
    finally:
        torch.set_num_threads(old_threads)
    n = len(paths)
    latency = {k: _ms(clock.get(k), n) for k in ("decode", "detect", "crop_embed", "search", "write")}
    latency["other"] = _ms(max(0.0, wall - sum(clock.seconds.values())), n)
    latency["total"] = _ms(wall, n)
    return {
        "pipeline": f"torchvision fasterrcnn_resnet50_fpn (random weights, min_size={min_size}) -> top-"
                    f"{REFERENCE_TOP_N} RPN proposals -> {REFERENCE_CROP}px crops -> resnet50 (2048-d) -> "
                    "faiss IndexFlatIP",
        "device": device.type,
        "torch_threads": threads,
        "images": n,
        "images_per_s": round(n / wall, 4),
        "latency_ms": latency,
        "peak_rss_mb": rss.peak_mb,
        "gflops_per_image": round(flops.get_total_flops() / 1e9, 2),
    }


# ---------------------------------------------------------------- registry scale


def _unit(x: np.ndarray) -> np.ndarray:
    import numpy as np

    x /= np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
    return x


def random_unit_vectors(n: int, dim: int, seed: int = 0, chunk: int = 65_536) -> np.ndarray:
    """float32 (n, dim) L2-normalized Gaussian vectors, generated in chunks to bound temporary memory."""
    import numpy as np

    rng = np.random.default_rng([seed, 4])
    out = np.empty((n, dim), np.float32)
    for i in range(0, n, chunk):
        out[i: i + chunk] = _unit(rng.standard_normal((min(chunk, n - i), dim), dtype=np.float32))
    return out


def index_bytes(index: Any) -> int:
    """Memory held by a faiss index (codes, graph links, inverted lists), computed without copying it."""
    import faiss

    index = faiss.downcast_index(index) if isinstance(index, faiss.Index) else index
    if isinstance(index, faiss.IndexBinaryFlat):
        return int(index.xb.size())
    if isinstance(index, faiss.IndexHNSW):
        hnsw = index.hnsw
        storage = faiss.downcast_index(index.storage)
        return int(storage.codes.size() + 4 * hnsw.neighbors.size() + 4 * hnsw.levels.size()
                   + 8 * hnsw.offsets.size())
    if isinstance(index, faiss.IndexIVF):
        return int(index.ntotal * (index.code_size + 8) + index_bytes(index.quantizer))
    if hasattr(index, "codes"):
        return int(index.codes.size())
    return len(faiss.serialize_index(index))


def _search_ms(index: Any, queries: np.ndarray, batch: int, k: int) -> tuple[float, np.ndarray]:
    """Median ms per query over calls of ``batch`` queries (robust to background hiccups); also the top-1 ids."""
    import numpy as np

    index.search(queries[:batch], k)  # warm-up (first-call allocations, OpenMP pool start)
    top1, per_query = [], []
    for i in range(0, len(queries), batch):
        q = queries[i: i + batch]
        start = time.perf_counter()
        _, ids = index.search(q, k)
        per_query.append((time.perf_counter() - start) / len(q))
        top1.append(ids[:, 0])
    return 1000 * statistics.median(per_query), np.concatenate(top1)


def bench_registry_scale(dim: int, max_n: int, n_queries: int = 200, seed: int = 0, hnsw_m: int = 32,
                         hnsw_ef_search: int = 128, ivf_nprobe: int = 32, progress: Progress = _quiet
                         ) -> list[dict[str, Any]]:
    """Search latency, index memory and recall@1 vs exact search for four faiss indexes at 1e3..``max_n`` rows.

    Registry rows are random unit vectors. Each query is a registry row plus Gaussian noise (cosine ~0.7 to it),
    like a photo crop of a registered logo; ``k`` is the 64 rows ``Registry.search`` asks for. Random vectors in
    256-d have no cluster structure, the hardest case for the ANN indexes, so their recall here is a lower bound.

    Returns:
        One row per (index, n): ``build_s``, ``index_mb``, ``ms_per_query_b1`` (one query per call),
        ``ms_per_query_b32`` (32 per call) and ``recall_at_1`` (top-1 id equal to exact float search).
    """
    import faiss
    import numpy as np

    sizes = [n for n in REGISTRY_SIZES if n <= max_n] or [max_n]
    progress(f"registry scale: generating {sizes[-1]:,} random {dim}-d vectors ...")
    base = random_unit_vectors(sizes[-1], dim, seed)
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng([seed, 5])
    for n in sizes:
        xb = base[:n]
        ids = rng.integers(0, n, n_queries)
        queries = _unit(xb[ids] + rng.standard_normal((n_queries, dim), dtype=np.float32) / np.sqrt(dim))
        n_single = min(n_queries, 20)
        exact_top1: np.ndarray | None = None

        def build_flat(x: np.ndarray = xb) -> Any:
            index = faiss.IndexFlatIP(dim)
            index.add(x)
            return index

        def build_binary(x: np.ndarray = xb) -> Any:
            index = faiss.IndexBinaryFlat(dim)
            index.add(np.packbits(x > 0, axis=1))
            return index

        def build_hnsw(x: np.ndarray = xb) -> Any:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = max(hnsw_ef_search, SEARCH_ROWS)
            index.add(x)
            return index

        nlist = max(1, min(1024, n // 39))

        def build_ivf(x: np.ndarray = xb, nlist: int = nlist) -> Any:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            train = x[np.random.default_rng([seed, 6]).permutation(len(x))[: 40 * nlist]]
            index.train(train)
            index.add(x)
            index.nprobe = min(ivf_nprobe, nlist)
            return index

        specs = [("flat", "IndexFlatIP", build_flat, queries),
                 ("binary", "IndexBinaryFlat (sign bits, Hamming)", build_binary, np.packbits(queries > 0, axis=1)),
                 ("hnsw", f"IndexHNSWFlat M={hnsw_m} efSearch={max(hnsw_ef_search, SEARCH_ROWS)} IP", build_hnsw,
                  queries),
                 ("ivf", f"IndexIVFFlat nlist={nlist} nprobe={min(ivf_nprobe, nlist)} IP", build_ivf, queries)]
        for name, desc, build, q in specs:
            progress(f"registry scale: {name} at {n:,} rows ...")
            start = time.perf_counter()
            index = build()
            build_s = time.perf_counter() - start
            k = min(SEARCH_ROWS, n)
            ms_b1, _ = _search_ms(index, q[:n_single], 1, k)
            ms_b32, top1 = _search_ms(index, q, QUERY_BATCH, k)
            if exact_top1 is None:
                exact_top1 = top1
            rows.append({"index": name, "description": desc, "n": n, "dim": dim, "build_s": round(build_s, 3),
                         "index_mb": round(index_bytes(index) / 2**20, 2), "ms_per_query_b1": round(ms_b1, 4),
                         "ms_per_query_b32": round(ms_b32, 4),
                         "recall_at_1": round(float(np.mean(top1 == exact_top1)), 4)})
            del index
    return rows


# ---------------------------------------------------------------- register and embedder batching


def bench_register(embedder: Any, n: int, work: Path, seed: int = 0) -> dict[str, Any]:
    """Time ``osld register``'s work for ``n`` generated PNGs: ``Registry.add`` (copy + check) then ``sync``."""
    from osld.registry import Registry

    src = work / "register_src"
    files = write_synthetic_logos(src, n, seed)
    reg = Registry(work / "register_registry", embedder)
    start = time.perf_counter()
    reg.add("bench", [src], sync=False)
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    stats = reg.sync()
    sync_s = time.perf_counter() - start
    return {"images": len(files), "rows": len(reg.row_paths), "embedded": stats["added"],
            "add_s": round(add_s, 3), "sync_s": round(sync_s, 3),
            "images_per_s": round(len(files) / max(add_s + sync_s, 1e-9), 2)}


def bench_embedder_batches(embedder: Any, batches: Sequence[int] = (1, 3, 32), repeats: int = 5,
                           seed: int = 0) -> dict[str, float]:
    """ms per crop when ``embed`` gets ``b`` crops per call (3 = one transparent registry logo's variants)."""
    import numpy as np

    rng = np.random.default_rng([seed, 7])
    crops = [rng.integers(0, 256, (int(rng.integers(40, 160)), int(rng.integers(40, 160)), 3), dtype=np.uint8)
             for _ in range(max(batches))]
    out = {}
    for b in batches:
        embedder.embed(crops[:b])
        start = time.perf_counter()
        for _ in range(repeats):
            embedder.embed(crops[:b])
        out[str(b)] = round(1000 * (time.perf_counter() - start) / (repeats * b), 3)
    return out


def bench_registry_scan(work: Path, file_counts: Sequence[int] = (1_000, 10_000)) -> list[dict[str, Any]]:
    """ms of the folder scan ``Registry.search`` runs before every search (``_ensure_synced``), by file count.

    The folders hold placeholder files (one brand folder per file pair); the scan only lists and stats them.
    """
    from osld.registry import Registry

    out = []
    for n in file_counts:
        root = work / f"scan_{n}"
        for i in range(n):
            folder = root / f"brand_{i // 2:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"logo_{i % 2}.png").write_bytes(b"")
        reg = Registry(root)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            reg._scan_state()
            best = min(best, time.perf_counter() - start)
        out.append({"files": n, "ms_per_search_call": round(1000 * best, 2)})
    return out


def bench_ort_spinning(detector: str | Path, embedder: str | Path, threads: int, det_size: int, emb_size: int,
                       repeats: int = 10, seed: int = 0) -> dict[str, Any]:
    """onnxruntime intra-op spin-waiting on (its default) vs off, for the detector (batch 1) and embedder (batch 8).

    Spinning threads busy-wait between kernels; on a machine whose cores are shared (decode threads, other
    processes) that steals CPU. Runs are interleaved so that drifting background load hits both settings alike.
    """
    import numpy as np
    import onnxruntime as ort

    rng = np.random.default_rng([seed, 10])
    inputs = {"detector": rng.random((1, 3, det_size, det_size), dtype=np.float32),
              "embedder": rng.random((8, 3, emb_size, emb_size), dtype=np.float32) * 255}
    sessions = {}
    for spin in ("1", "0"):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
        for name, path in (("detector", detector), ("embedder", embedder)):
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            feed = {sess.get_inputs()[0].name: inputs[name]}
            sess.run(None, feed)
            sessions[(name, spin)] = (sess, feed)
    seconds = dict.fromkeys(sessions, 0.0)
    for _ in range(repeats):
        for key, (sess, feed) in sessions.items():
            start = time.perf_counter()
            sess.run(None, feed)
            seconds[key] += time.perf_counter() - start
    label = {"1": "spinning", "0": "no_spinning"}
    return {"detector_ms_per_image": {label[s]: _ms(seconds[("detector", s)], repeats) for s in "10"},
            "embedder_ms_per_crop_b8": {label[s]: _ms(seconds[("embedder", s)], 8 * repeats) for s in "10"}}


# ---------------------------------------------------------------- compute bound


def onnx_gflops(path: str | Path, input_shape: Sequence[int]) -> float | None:
    """GFLOPs (2 x multiply-adds) of one forward pass, summed over Conv, Gemm and MatMul nodes.

    Shapes come from ``onnx.shape_inference`` with the graph input fixed to ``input_shape``. Element-wise ops,
    pooling and activations are not counted (they are memory-bound and small next to the convolutions).

    Returns:
        GFLOPs, or None when the ``onnx`` package is missing or a counted node has no inferred shape.
    """
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return None
    import numpy as np

    model = onnx.load(str(path))
    for d, v in zip(model.graph.input[0].type.tensor_type.shape.dim, input_shape, strict=True):
        d.ClearField("dim_param")
        d.dim_value = int(v)
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int | None]] = {t.name: list(t.dims) for t in model.graph.initializer}
    for vi in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    flops = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        a, w, out = shapes.get(node.input[0]), shapes.get(node.input[1]), shapes.get(node.output[0])
        if not a or not w or not out or None in out or None in w:
            return None
        if node.op_type == "Conv":  # out (n, co, h, w); weight (co, ci / groups, kh, kw)
            flops += 2 * int(np.prod(out)) * int(np.prod(w[1:]))
        else:
            attrs = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
            k = a[-2] if attrs.get("transA", 0) else a[-1]
            if k is None:
                return None
            flops += 2 * int(np.prod(out)) * int(k)
    return flops / 1e9


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an ``n`` x ``n`` numpy matmul (numpy's BLAS, its default threads)."""
    import numpy as np

    rng = np.random.default_rng(8)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


# ---------------------------------------------------------------- the whole run


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def run_bench(cfg: BenchConfig | None = None, progress: Progress = _quiet) -> dict[str, Any]:
    """Run every measurement and return the JSON-ready result (see ``benchmarks/README.md`` for the keys).

    Args:
        cfg: what to measure; ``None`` means the full default run.
        progress: called with one line per step (the CLI prints them to stderr).

    Raises:
        ConfigError: no images, or an invalid setting.
        ModelLoadError: the ONNX weights are missing or unusable.
    """
    cfg = (cfg or BenchConfig()).resolved()
    threads = cfg.threads or usable_cores()
    machine = machine_info()
    result: dict[str, Any] = {"schema": SCHEMA_VERSION, "quick": cfg.quick,
                              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine}
    busy = machine["load_avg_start"] is not None and machine["load_avg_start"] > 0.5 * machine["usable_cores"]
    if busy:
        progress(f"warning: load average {machine['load_avg_start']} on {machine['usable_cores']} cores; "
                 "timings will be pessimistic")
    result["machine"]["busy_at_start"] = busy
    with contextlib.ExitStack() as stack:
        work = Path(cfg.work_dir) if cfg.work_dir else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="osld-bench-")))
        work.mkdir(parents=True, exist_ok=True)
        stack.enter_context(faiss_threads(threads))
        paths, image_info = collect_images(cfg, work)
        registry_root, registry_source = resolve_registry(cfg, work)
        progress(f"{len(paths)} images ({image_info['from_folder']} from folder, {image_info['synthetic']} "
                 f"synthetic); registry: {registry_source}; threads: {threads}")

        with RssSampler() as rss:
            osld = bench_osld(cfg, paths, registry_root, work, progress)
        cuda = bool(osld["providers"]) and osld["providers"][0] == "CUDAExecutionProvider"
        result["threads"] = {"onnxruntime_intra_op": threads, "onnxruntime_inter_op": 1, "faiss_omp": threads,
                             "torch": threads, "decode_threads": 2,
                             "numpy_blas": os.environ.get("OPENBLAS_NUM_THREADS")
                             or os.environ.get("OMP_NUM_THREADS") or "library default (all cores)"}
        result["device"] = {"requested": cfg.device, "onnxruntime_providers": osld.pop("providers")}
        result["images"] = {"n": len(paths), **image_info, **osld.pop("image_sizes"),
                            "boxes_per_image": osld["boxes_per_image"], "crops_per_image": osld["crops_per_image"]}
        result["registry"] = {"source": registry_source, "rows": osld.pop("registry_rows"),
                              "brands": osld.pop("registry_brands"), "sync_s": osld.pop("registry_sync_s")}
        ok_paths = osld.pop("_ok_paths")
        model_s, model_images, model_crops = (osld.pop(k) for k in ("_model_seconds", "_model_images",
                                                                    "_model_crops"))
        result.update(osld)
        result["batch_size"] = cfg.batch_size
        result["peak_rss_mb"] = rss.peak_mb
        result["peak_rss_method"] = rss.method

        if cfg.reference:
            ref_paths = _evenly(ok_paths, cfg.reference_images or len(ok_paths))
            reference = bench_reference(ref_paths, threads, max(result["registry"]["rows"], 1), work,
                                        cfg.reference_min_size, cuda, cfg.seed, progress)
        else:
            reference = {"skipped": "disabled with --no-reference"}
        if "skipped" in reference:
            progress(f"reference skipped: {reference['skipped']}")
        result["reference"] = reference
        result["reference_images_per_s"] = reference.get("images_per_s")
        result["speedup"] = _ratio(result["images_per_s"], result["reference_images_per_s"])
        result["speedup_single"] = _ratio(result["images_per_s_single"], result["reference_images_per_s"])
        lat, fixed = result["latency_ms"], result["fixed_crops_ms_per_image"]
        equal_work = lat["total"] - lat["crop_embed"] - lat["search"] + fixed["crop_embed"] + fixed["search"]
        result["latency_ms_at_fixed_crops_est"] = round(equal_work, 3)
        result["speedup_at_fixed_crops_est"] = _ratio(reference.get("latency_ms", {}).get("total"), equal_work)

        from osld.embedder import load_embedder
        from osld.pipeline import default_weights_dir

        weights = None if cfg.detector and cfg.embedder else default_weights_dir()
        det_path = Path(cfg.detector or weights / "detector.onnx")
        emb_path = Path(cfg.embedder or weights / "embedder.onnx")
        embedder = load_embedder(emb_path, device=cfg.device, threads=threads)
        result["registry_scale"] = bench_registry_scale(embedder.dim, cfg.max_registry or REGISTRY_SIZES[-1],
                                                        cfg.queries or 1, cfg.seed, progress=progress)
        progress(f"register: {cfg.register_images} generated PNGs ...")
        result["register"] = bench_register(embedder, cfg.register_images or 0, work, cfg.seed) \
            if cfg.register_images else {"skipped": "register_images=0"}
        progress("registry folder scan per search call ...")
        result["registry_scan"] = bench_registry_scan(work, (1_000,) if cfg.quick else (1_000, 10_000))
        result["embedder_ms_per_crop"] = bench_embedder_batches(embedder, repeats=3 if cfg.quick else 10,
                                                                seed=cfg.seed)

        progress("compute bound: FLOPs from the ONNX graphs, numpy matmul peak ...")
        from osld.detector import load_detector

        det = load_detector(det_path, device="cpu", threads=threads)
        det_gflops = onnx_gflops(det_path, (1, 3, det.imgsz, det.imgsz))
        emb_gflops = onnx_gflops(emb_path, (1, 3, embedder.size, embedder.size)) \
            if hasattr(embedder, "size") else None
        if not cuda:
            progress("onnxruntime thread spinning on/off ...")
            result["onnxruntime_spinning"] = bench_ort_spinning(det_path, emb_path, threads, det.imgsz,
                                                                getattr(embedder, "size", 112),
                                                                repeats=3 if cfg.quick else 20, seed=cfg.seed)
        peak = matmul_peak_gflops(1024 if cfg.quick else 2048, 3 if cfg.quick else 5)
        per_image = det_gflops + emb_gflops * result["images"]["crops_per_image"] \
            if det_gflops is not None and emb_gflops is not None else None
        achieved = per_image * result["images_per_s"] if per_image is not None else None
        model_gflop = det_gflops * model_images + emb_gflops * model_crops if per_image is not None else None
        ref_gflops = reference.get("gflops_per_image")
        ref_achieved = ref_gflops * reference["images_per_s"] if ref_gflops else None
        on_cpu = not cuda
        result["compute"] = {
            "matmul_peak_gflops_s": round(peak, 1),
            "detector_input": det.imgsz,
            "detector_gflops_per_image": _r(det_gflops),
            "embedder_gflops_per_crop": _r(emb_gflops, 4),
            "gflops_per_image": _r(per_image),
            "achieved_gflops_s": _r(achieved, 2),
            "utilization_pct": _r(100 * achieved / peak, 2) if achieved is not None and on_cpu else None,
            "model_only_utilization_pct": _r(100 * model_gflop / model_s / peak, 2)
            if model_gflop and model_s and on_cpu else None,
            "reference_gflops_per_image": ref_gflops,
            "reference_achieved_gflops_s": _r(ref_achieved, 2),
            "reference_utilization_pct": _r(100 * ref_achieved / peak, 2) if ref_achieved and on_cpu else None,
            "flops_note": "2 x multiply-adds of Conv/Gemm/MatMul; osld from the ONNX graphs, reference from "
                          "torch.utils.flop_counter (conv/linear only)",
        }
    result["machine"]["load_avg_end"] = _load_avg()
    result["config"] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    return result


# ---------------------------------------------------------------- output


def _fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return str(x)


def format_table(result: dict[str, Any]) -> str:
    """The human-readable summary of a ``run_bench`` result."""
    m, ref, comp = result["machine"], result["reference"], result["compute"]
    th = result["threads"]
    lines = [
        f"osld bench{' (quick)' if result['quick'] else ''}: {m['cpu_model']}, {m['usable_cores']} cores; "
        f"threads: onnxruntime {th['onnxruntime_intra_op']}, faiss {th['faiss_omp']}, torch {th['torch']}; "
        f"providers: {','.join(result['device']['onnxruntime_providers'])}",
        f"load average {m['load_avg_start']} at start, {m['load_avg_end']} at end"
        + ("  (machine busy: timings are pessimistic)" if m.get("busy_at_start") else ""),
        f"images: {result['images']['n']} (~{result['images']['mean_width']:.0f}x"
        f"{result['images']['mean_height']:.0f}), {result['images']['boxes_per_image']} boxes/image; registry: "
        f"{result['registry']['brands']} brands, {result['registry']['rows']} rows ({result['registry']['source']})",
        "",
        f"{'end to end':<30}{'osld':>12}{'reference':>12}{'ratio':>9}",
        f"{'images/s, batch ' + str(result['batch_size']):<30}{_fmt(result['images_per_s'], 2):>12}"
        f"{_fmt(result['reference_images_per_s'], 3):>12}{_fmt(result['speedup'], 1) + 'x':>9}",
        f"{'images/s, one at a time':<30}{_fmt(result['images_per_s_single'], 2):>12}"
        f"{_fmt(result['reference_images_per_s'], 3):>12}{_fmt(result['speedup_single'], 1) + 'x':>9}",
        f"{'peak RSS MB':<30}{_fmt(result['peak_rss_mb']):>12}{_fmt(ref.get('peak_rss_mb')):>12}",
        f"{'GFLOPs/image':<30}{_fmt(comp['gflops_per_image'], 2):>12}{_fmt(comp['reference_gflops_per_image']):>12}",
        f"{'% of matmul peak':<30}{_fmt(comp['utilization_pct'], 1):>12}"
        f"{_fmt(comp['reference_utilization_pct'], 1):>12}",
    ]
    if "skipped" in ref:
        lines.append(f"  reference skipped: {ref['skipped']}")
    lines += ["", f"{'latency ms/image':<30}{'osld b=1':>12}{'osld b=' + str(result['batch_size']):>12}"
                  f"{'reference':>12}"]
    ref_lat = ref.get("latency_ms", {})
    for stage in ("decode", "detect", "crop_embed", "search", "write", "other", "total"):
        lines.append(f"  {stage:<28}{_fmt(result['latency_ms'][stage], 2):>12}"
                     f"{_fmt(result['latency_ms_batched'][stage], 2):>12}{_fmt(ref_lat.get(stage), 1):>12}")
    bd = result["breakdown_ms_per_image"]
    lines.append(f"  (batched: detect = {bd['detect_pre_post']} pre/post + {bd['detect_infer']} onnx; crop_embed = "
                 f"{bd['embed_pre_post']} pre/post + {bd['embed_infer']} onnx; registry scan "
                 f"{bd['registry_scan_once_per_run']} ms once per run; decode runs in 2 threads, overlapped)")
    fx = result["fixed_crops_ms_per_image"]
    lines.append(f"  at {fx['crops']} crops/image (the reference's N): crop_embed {fx['crop_embed']} ms + search "
                 f"{fx['search']} ms ({fx['search_faiss_1_thread']} ms with 1 faiss thread) per image;")
    lines.append(f"    est. single-image total {result['latency_ms_at_fixed_crops_est']} ms, "
                 f"{_fmt(result['speedup_at_fixed_crops_est'], 1)}x faster than the reference")
    lines.append(f"  single-image latency p50 {result['latency_single_p50_ms']} ms, p95 "
                 f"{result['latency_single_p95_ms']} ms; startup {result['startup_ms']} ms; registry sync "
                 f"{result['registry']['sync_s']} s")
    lines += ["", f"registry scale (dim {result['registry_scale'][0]['dim']}, k={SEARCH_ROWS}; queries = noisy "
                  "registry rows)",
              f"  {'index':<8}{'rows':>11}{'build s':>10}{'MB':>10}{'ms/q b=1':>11}{'ms/q b=32':>11}"
              f"{'recall@1':>10}"]
    for row in result["registry_scale"]:
        lines.append(f"  {row['index']:<8}{row['n']:>11,}{row['build_s']:>10.2f}{row['index_mb']:>10.1f}"
                     f"{row['ms_per_query_b1']:>11.3f}{row['ms_per_query_b32']:>11.3f}{row['recall_at_1']:>10.3f}")
    reg = result["register"]
    if "skipped" not in reg:
        lines += ["", f"register {reg['images']} PNGs: add {reg['add_s']} s + embed/index {reg['sync_s']} s "
                      f"({reg['rows']} rows) = {reg['images_per_s']} images/s"]
    lines.append("Registry.search folder scan per call: "
                 + ", ".join(f"{r['ms_per_search_call']} ms at {r['files']:,} files" for r in result["registry_scan"]))
    spin = result.get("onnxruntime_spinning")
    if spin:
        d, e = spin["detector_ms_per_image"], spin["embedder_ms_per_crop_b8"]
        lines.append(f"onnxruntime spinning on/off: detector {d['spinning']}/{d['no_spinning']} ms/image, embedder "
                     f"{e['spinning']}/{e['no_spinning']} ms/crop (batch 8)")
    lines.append("embedder ms/crop by crops per call: "
                 + ", ".join(f"{b}: {v}" for b, v in result["embedder_ms_per_crop"].items()))
    lines.append(f"compute: matmul peak {comp['matmul_peak_gflops_s']} GFLOP/s; detector "
                 f"{_fmt(comp['detector_gflops_per_image'], 2)} GFLOPs/image at {comp['detector_input']} px, embedder "
                 f"{_fmt(comp['embedder_gflops_per_crop'], 3)} GFLOPs/crop; achieved "
                 f"{_fmt(comp['achieved_gflops_s'], 1)} GFLOP/s end to end, model-only utilization "
                 f"{_fmt(comp['model_only_utilization_pct'], 1)}%")
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``result`` as indented JSON (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- CLI


def bench_command(
    json_out: Path | None = typer.Option(None, "--json", help="Also write the full result as JSON here."),
    quick: bool = typer.Option(False, "--quick", help="Small sizes for a smoke run (2+2 images, registry scale "
                               "up to 1e4, 20 registered PNGs)."),
    images: Path | None = typer.Option(None, help="Folder of photos (default: datasets/demo/images when present)."),
    registry: Path | None = typer.Option(None, help="Registry folder (default: datasets/demo/logos when present, "
                                         "else a generated one)."),
    synthetic: int | None = typer.Option(None, help="Generated 640x480 JPEG scenes added to the photos "
                                         "(default 32, quick 2; 0 when --images is given)."),
    max_images: int | None = typer.Option(None, help="Photos taken from the folder at most (default 64, quick 2)."),
    max_registry: int | None = typer.Option(None, help="Largest registry-scale size (default 1000000, quick "
                                            "10000)."),
    register_images: int | None = typer.Option(None, help="PNGs in the register measurement (default 1000, "
                                               "quick 20)."),
    batch_size: int = typer.Option(8, help="Images per model call in the batched run."),
    passes: int | None = typer.Option(None, help="Timed passes per mode (default 3, quick 1)."),
    threads: int | None = typer.Option(None, help="onnxruntime, faiss and torch threads (default: all cores)."),
    device: BenchDevice = typer.Option(BenchDevice.auto, help="auto uses CUDA when onnxruntime-gpu finds a GPU."),
    reference: bool = typer.Option(True, "--reference/--no-reference", help="Also time the torchvision Faster "
                                   "R-CNN + ResNet-50 reference (needs the [train] extra)."),
    reference_images: int | None = typer.Option(None, help="Images the reference runs on (default 16, quick 2)."),
    reference_min_size: int = typer.Option(800, hidden=True, help="Reference detector min_size (smoke tests)."),
    detector: Path | None = typer.Option(None, help="Detector ONNX (default: shipped weights/detector.onnx)."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped weights/embedder.onnx)."),
    seed: int = typer.Option(0, help="Seed of the generated images and vectors."),
) -> None:
    """Measure throughput, per-stage latency, registry scale and compute use, side by side with a reference."""
    def echo(msg: str) -> None:
        typer.echo(msg, err=True)

    try:
        cfg = BenchConfig(images=images, registry=registry, quick=quick, synthetic=synthetic, max_images=max_images,
                          max_registry=max_registry, register_images=register_images, batch_size=batch_size,
                          passes=passes, threads=threads, device=device.value, detector=detector, embedder=embedder,
                          reference=reference, reference_images=reference_images,
                          reference_min_size=reference_min_size, seed=seed)
        result = run_bench(cfg, progress=echo)
    except OsldError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from e
    typer.echo(format_table(result))
    if json_out is not None:
        typer.echo(f"wrote {write_json(result, json_out)}", err=True)
