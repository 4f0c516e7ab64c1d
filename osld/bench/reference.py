"""The reference two-stage pipeline (torchvision Faster R-CNN + ResNet-50 crops + flat search), timing only."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from osld.bench.common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    REFERENCE_CROP,
    REFERENCE_TOP_N,
    SEARCH_ROWS,
    Progress,
    RssSampler,
    StageClock,
    _ms,
    _quiet,
)

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
