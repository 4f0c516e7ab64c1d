"""Images/s of the local engine vs ``--engine ray`` with 1 and 2 workers, on the demo photos repeated.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/ray_engine.py --repeat 22 --json work/ray_engine.json

Every configuration processes the same list (the 9 demo photos x ``--repeat``) against a copy of the demo registry
and produces the same records (checked). Reported per configuration:
- end to end: from building the pipeline (local) / starting the actors (ray) to the last record, model loading
  included (``ray.init`` itself is not: it is paid once per cluster, and printed apart);
- steady: images/s after the first record arrived (model loading and the first batch or block excluded).
The local engine runs with 2 ONNX threads (the machine's 2 cores); each Ray actor has 1 thread and 1 CPU, so
"ray, 2 workers" uses the same cores as the local engine and their ratio is Ray's overhead at equal cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "datasets" / "demo"


def timed(records) -> tuple[list[dict], float, float]:
    """Consume ``records``; returns them, seconds to the last one, and steady images/s (first to last)."""
    start = time.perf_counter()
    out, times = [], []
    for r in records:
        out.append(r)
        times.append(time.perf_counter())
    end = time.perf_counter()
    # Ray delivers whole blocks: the records that arrived with the first one belong to the start-up period
    first = sum(t <= times[0] + 0.01 for t in times) if times else 0
    steady = (len(out) - first) / (end - times[0]) if len(out) > first and end > times[0] else float("nan")
    return out, end - start, steady


def _same(a: list, b: list) -> bool:
    """One image's (brand, box) lists agree: same brands in the same order, boxes within 1e-3 px."""
    return len(a) == len(b) and all(x[0] == y[0] and max(abs(u - v) for u, v in zip(x[1], y[1], strict=True)) <= 1e-3
                                    for x, y in zip(a, b, strict=True))


def local_records(items, registry: Path, threads: int):
    from osld.output import to_record
    from osld.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(registry=registry, threads=threads)
    for item, res in zip(items, pipe.run([i.abspath for i in items], batch_size=8), strict=True):
        record = to_record(item.image, res.detections, res.error)
        record["abspath"] = item.abspath
        json.dumps(record)  # the same serialisation the actors do
        yield record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=22, help="copies of the 9 demo photos (22: 198 images)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()

    import ray

    from osld.embedder import load_embedder
    from osld.pipeline import default_weights_dir
    from osld.registry import Registry
    from osld.scale import RegistrySnapshot, WorkerSpec, run_ray
    from osld.scale.inputs import InputItem

    photos = sorted((DEMO / "images").iterdir())
    items = [InputItem(str(p), str(p)) for _ in range(args.repeat) for p in photos]
    tmp = Path(tempfile.mkdtemp(prefix="osld_ray_bench_"))
    registry = tmp / "logos"
    shutil.copytree(DEMO / "logos", registry, ignore=shutil.ignore_patterns("lock"))
    reg = Registry(registry, load_embedder(default_weights_dir() / "embedder.onnx", threads=2))
    reg.sync()
    snapshot = RegistrySnapshot.of(reg)

    rows: list[dict] = []
    reference = None

    def report(name: str, cores: int, records: list[dict], seconds: float, steady: float) -> None:
        nonlocal reference
        boxes = [[(d["brand"], d["box"]) for d in r["detections"]] for r in records]
        if reference is None:
            reference = boxes
        same = len(reference) == len(boxes) and all(_same(a, b) for a, b in zip(reference, boxes, strict=True))
        rows.append(dict(engine=name, cores=cores, images=len(records), seconds=round(seconds, 1),
                         end_to_end=round(len(records) / seconds, 2), steady=round(steady, 2), same_records=same))
        print(f"{name}: {len(records)} images in {seconds:.1f} s = {len(records) / seconds:.2f} images/s end to end, "
              f"{steady:.2f} steady; records same as local: {same}", file=sys.stderr, flush=True)

    report("local, 2 threads", 2, *timed(local_records(items, registry, threads=2)))
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    init_s = time.perf_counter() - t0
    print(f"ray.init (local, 2 CPUs): {init_s:.1f} s", file=sys.stderr, flush=True)
    try:
        for workers in (1, 2):
            report(f"ray, {workers} worker(s) x 1 thread", workers,
                   *timed(run_ray(items, WorkerSpec(threads=1), snapshot, workers=workers)))
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    import os

    print(f"\n{len(items)} images (9 demo photos x {args.repeat}), 1-min load average at the end "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; ray.init {init_s:.1f} s (not included)\n")
    print("| engine | cores | images/s end to end | images/s steady | seconds | same records |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['cores']} | {r['end_to_end']} | {r['steady']} | {r['seconds']} | "
              f"{'yes' if r['same_records'] else 'NO'} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "ray_init_s": init_s, "repeat": args.repeat}, indent=1))


if __name__ == "__main__":
    main()
