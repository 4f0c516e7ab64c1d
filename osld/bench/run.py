"""``run_bench``: every measurement of ``osld bench`` in one process, and the JSON-ready result."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from osld.bench.common import (
    REGISTRY_SIZES,
    SCHEMA_VERSION,
    BenchConfig,
    Progress,
    RssSampler,
    _load_avg,
    _quiet,
    _r,
    _ratio,
    machine_info,
    usable_cores,
)
from osld.bench.compute import matmul_peak_gflops, onnx_gflops
from osld.bench.data import collect_images, resolve_registry
from osld.bench.reference import _evenly, bench_reference
from osld.bench.registry_scale import bench_registry_scale
from osld.bench.throughput import (
    bench_embedder_batches,
    bench_ort_spinning,
    bench_osld,
    bench_register,
    bench_registry_scan,
)
from osld.registry import faiss_threads


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

        det = load_detector(det_path, device="cpu", threads=threads, imgsz=cfg.imgsz)
        result["detector_input"] = {"imgsz": det.imgsz, "tile": cfg.tile}
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
