"""``osld bench``: the typer command (registered in ``osld/cli.py``; also run by ``benchmarks/run.py``)."""

from __future__ import annotations

from pathlib import Path

import typer

from osld.bench.common import BenchConfig, BenchDevice
from osld.bench.report import format_table, write_json
from osld.bench.run import run_bench
from osld.errors import OsldError

# ---------------------------------------------------------------- CLI


def bench_command(
    json_out: Path | None = typer.Option(None, "--json", help="Also write the full result as JSON here."),
    quick: bool = typer.Option(False, "--quick", help="Small sizes for a smoke run (2+2 images, registry scale "
                               "up to 1e4, 20 registered PNGs)."),
    images: Path | None = typer.Option(None, help="Folder of photos (default: datasets/demo/images when present)."),
    registry: Path | None = typer.Option(None, help="Registry folder (default: datasets/demo/logos when present, "
                                         "else a generated one)."),
    synthetic: int | None = typer.Option(None, help="Generated 640x480 JPEG scenes added to the photos "
                                         "(default 32, quick 2; 0 when --images is given)."),
    max_images: int | None = typer.Option(None, help="Photos taken from the folder at most (default 64, quick 2)."),
    max_registry: int | None = typer.Option(None, help="Largest registry-scale size (default 1000000, quick "
                                            "10000)."),
    register_images: int | None = typer.Option(None, help="PNGs in the register measurement (default 1000, "
                                               "quick 20)."),
    batch_size: int = typer.Option(8, help="Images per model call in the batched run."),
    passes: int | None = typer.Option(None, help="Timed passes per mode (default 3, quick 1)."),
    threads: int | None = typer.Option(None, help="onnxruntime, faiss and torch threads (default: all cores)."),
    device: BenchDevice = typer.Option(BenchDevice.auto, help="auto uses CUDA when onnxruntime-gpu finds a GPU."),
    reference: bool = typer.Option(True, "--reference/--no-reference", help="Also time the torchvision Faster "
                                   "R-CNN + ResNet-50 reference (needs the [train] extra)."),
    reference_images: int | None = typer.Option(None, help="Images the reference runs on (default 16, quick 2)."),
    reference_min_size: int = typer.Option(800, hidden=True, help="Reference detector min_size (smoke tests)."),
    detector: Path | None = typer.Option(None, help="Detector ONNX (default: shipped weights/detector.onnx)."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped weights/embedder.onnx)."),
    imgsz: int | None = typer.Option(None, help="Detector input size (default: the detector's own)."),
    tile: int = typer.Option(1, help="Also detect on a TILE x TILE grid of crops, as `osld detect --tile` (1: off)."),
    seed: int = typer.Option(0, help="Seed of the generated images and vectors."),
) -> None:
    """Measure throughput, per-stage latency, registry scale and compute use, side by side with a reference."""
    def echo(msg: str) -> None:
        typer.echo(msg, err=True)

    try:
        cfg = BenchConfig(images=images, registry=registry, quick=quick, synthetic=synthetic, max_images=max_images,
                          max_registry=max_registry, register_images=register_images, batch_size=batch_size,
                          passes=passes, threads=threads, device=device.value, detector=detector, embedder=embedder,
                          imgsz=imgsz, tile=tile, reference=reference, reference_images=reference_images,
                          reference_min_size=reference_min_size, seed=seed)
        result = run_bench(cfg, progress=echo)
    except OsldError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from e
    typer.echo(format_table(result))
    if json_out is not None:
        typer.echo(f"wrote {write_json(result, json_out)}", err=True)
