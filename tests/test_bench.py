"""Smoke test of ``osld bench --quick``: it runs end to end and writes the documented JSON keys.

Benchmarks are not tests: no timing is asserted here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from osld.bench import bench_command, write_synthetic_registry, write_synthetic_scenes

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
TOP_LEVEL_KEYS = ("images_per_s", "images_per_s_single", "reference_images_per_s", "speedup", "latency_ms",
                  "latency_ms_batched", "peak_rss_mb", "machine", "threads", "registry_scale", "register", "compute")


@pytest.mark.slow
@pytest.mark.skipif(not (WEIGHTS / "detector.onnx").exists() or not (WEIGHTS / "embedder.onnx").exists(),
                    reason="shipped ONNX weights are not in this checkout")
def test_quick_bench_writes_documented_json_keys(tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_synthetic_scenes(images, 2, seed=1, n_brands=3)
    registry = write_synthetic_registry(tmp_path / "registry", 3)
    out = tmp_path / "bench.json"
    app = typer.Typer()
    app.command()(bench_command)

    result = CliRunner().invoke(app, [
        "--quick", "--json", str(out), "--images", str(images), "--registry", str(registry),
        "--max-registry", "1000", "--register-images", "3", "--reference-images", "1",
        "--reference-min-size", "128",  # the reference code path, small enough for a test
    ])

    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    for key in TOP_LEVEL_KEYS:
        assert key in data, key
    assert {"decode", "detect", "crop_embed", "search", "write", "total"} <= set(data["latency_ms"])
    assert {"cpu_model", "usable_cores"} <= set(data["machine"])
    assert {"onnxruntime_intra_op", "faiss_omp", "torch"} <= set(data["threads"])
    assert {row["index"] for row in data["registry_scale"]} == {"flat", "binary", "hnsw", "ivf"}
    assert {"matmul_peak_gflops_s", "detector_gflops_per_image", "utilization_pct"} <= set(data["compute"])
    has_torch = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None
    assert (data["reference_images_per_s"] is not None) == has_torch
    assert "images/s" in result.output
