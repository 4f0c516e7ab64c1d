"""osld end to end (``Pipeline.run`` + ``ResultWriter``, timed per stage), ``osld register``, embedder
batching, registry scans and onnxruntime thread spinning."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osld.bench.common import (
    FIXED_CROPS,
    BenchConfig,
    Progress,
    StageClock,
    _ms,
    _quiet,
    _Timed,
    _timed_method,
    usable_cores,
)
from osld.bench.data import write_synthetic_logos
from osld.errors import ImageReadError
from osld.registry import faiss_threads

if TYPE_CHECKING:
    import numpy as np

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
    from osld.pipeline import Pipeline
    from osld.registry import Registry

    threads = cfg.threads or usable_cores()
    clock = StageClock()
    start = time.perf_counter()
    base = Pipeline.from_pretrained(detector=cfg.detector, embedder=cfg.embedder, device=cfg.device, threads=threads,
                                    imgsz=cfg.imgsz, tile=cfg.tile)
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
                        vectors = emb.embed(pipe.match.crops(pixels, xyxy))
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
