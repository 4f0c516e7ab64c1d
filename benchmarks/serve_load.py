"""Bounded load test of `osld serve` (loopback only, a fixed number of requests, stops by itself).

Starts `osld serve` on a free 127.0.0.1 port over a temp copy of the demo registry, then for each client count
sends ``--requests`` single-image POST /v1/detect requests from that many concurrent clients (httpx, asyncio).
Reports requests/s, images/s, p50/p95 latency, errors and the server's peak RSS, next to the in-process batched
figure of ``osld bench`` (``Pipeline.run(batch_size=8)`` on the same photos, same threads) measured in the same
run, because absolute numbers on a shared machine move with its load.

    python benchmarks/serve_load.py --clients 8 32 --requests 256 --json work/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "datasets" / "demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def inprocess_batched(registry: Path, photos: list[Path], threads: int | None, passes: int = 3) -> float:
    """images/s of Pipeline.run(batch_size=8), osld bench's batched mode (decode + detect + embed + search)."""
    from osld import Pipeline

    pipe = Pipeline.from_pretrained(registry=registry, threads=threads)
    list(pipe.run(photos[:8], batch_size=8))  # warm-up
    t0 = time.perf_counter()
    for _ in range(passes):
        n = sum(1 for _ in pipe.run(photos, batch_size=8))
    return passes * n / (time.perf_counter() - t0)


async def load(url: str, photos: list[tuple[str, bytes]], clients: int, requests: int) -> dict:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            name, data = photos[i % len(photos)]
            t0 = time.perf_counter()
            try:
                r = await c.post(url + "/v1/detect", files=[("files", (name, data, "image/jpeg"))])
                ok = r.status_code == 200 and r.json()["results"][0]["error"] is None
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": requests, "requests_per_s": round(requests / wall, 2),
            "images_per_s": round(requests / wall, 2), "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1), "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--requests", type=int, default=256, help="requests per client count (one image each)")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all cores)")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    photos = sorted((DEMO / "images").glob("*.jpg"))
    tmp = Path(tempfile.mkdtemp(prefix="osld-serve-load-"))
    registry = tmp / "logos"
    shutil.copytree(DEMO / "logos", registry)
    load_start = os.getloadavg()[0]
    print(f"in-process batched baseline (Pipeline.run batch 8, {len(photos)} demo photos) ...", flush=True)
    baseline = inprocess_batched(registry, photos, args.threads)  # also indexes the registry copy
    print(f"  {baseline:.1f} images/s", flush=True)

    port = free_port()
    cmd = [sys.executable, "-m", "osld.cli", "serve", "--registry", str(registry), "--port", str(port),
           "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        for _ in range(1800):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        data = [(p.name, p.read_bytes()) for p in photos]
        asyncio.run(load(url, data, 4, 16))  # warm-up
        for n in args.clients:
            row = asyncio.run(load(url, data, n, args.requests))
            row["vs_inprocess_batched"] = round(row["images_per_s"] / baseline, 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
        metrics = httpx.get(url + "/metrics").text
        batches = [ln for ln in metrics.splitlines() if ln.startswith(("osld_batch_size_sum", "osld_batch_size_count"))]
        mean_batch = float(batches[1].split()[-1]) / max(1.0, float(batches[0].split()[-1]))
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"inprocess_batched_images_per_s": round(baseline, 2), "rows": rows,
              "mean_batch_size": round(mean_batch, 2), "server_peak_rss_mb": rss and round(rss, 1),
              "load_avg_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)], "cores": os.cpu_count(),
              "command": " ".join(["python", "benchmarks/serve_load.py", *sys.argv[1:]])}
    print("| clients | requests/s (= images/s) | p50 ms | p95 ms | errors | vs in-process batched |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} | {r['requests_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['errors']} | "
              f"{r['vs_inprocess_batched']:.0%} |")
    print(f"in-process batched: {baseline:.1f} images/s; mean batch {mean_batch:.2f}; server peak RSS {rss} MB; "
          f"load avg {result['load_avg_1min']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
