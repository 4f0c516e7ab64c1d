"""Shared pieces of ``osld bench``: configuration, machine facts, RSS sampling and per-stage clocks."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from osld.errors import ConfigError

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]
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
        imgsz: detector input size (default: the detector's own, ``weights/detector.json``).
        tile: also detect on a ``tile`` x ``tile`` grid of crops, as ``osld detect --tile`` (1: off).
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
    imgsz: int | None = None
    tile: int = 1
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


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None
