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

from osld.bench.cli import bench_command
from osld.bench.common import BenchConfig, BenchDevice, machine_info
from osld.bench.data import write_synthetic_logos, write_synthetic_registry, write_synthetic_scenes
from osld.bench.registry_scale import bench_registry_scale
from osld.bench.report import format_table, write_json
from osld.bench.run import run_bench

__all__ = ["BenchConfig", "BenchDevice", "bench_command", "bench_registry_scale", "format_table", "machine_info",
           "run_bench", "write_json", "write_synthetic_logos", "write_synthetic_registry", "write_synthetic_scenes"]
