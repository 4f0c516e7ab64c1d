"""The human-readable table and the JSON file of a ``run_bench`` result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from osld.bench.common import SEARCH_ROWS

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
        f"{result['registry']['brands']} brands, {result['registry']['rows']} rows ({result['registry']['source']})"
        + (f"; detector input {result['detector_input']['imgsz']} px, tile {result['detector_input']['tile']}"
           if "detector_input" in result else ""),
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
