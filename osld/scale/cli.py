"""The body of ``osld detect --engine ray``: inputs and registry on the driver, the models on Ray actors."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import typer

from osld.cli_base import fail, setup_logging
from osld.errors import OsldError

RAY_FORMATS = ("jsonl", "parquet")


def detect_ray(inputs: list[Path], registry: Path | None, out: Path | None, fmt: str, resume: bool, strict: bool,
               progress: bool, address: str | None, workers: int | None, worker_threads: int,
               spec_kwargs: dict[str, Any], binary: bool = False, unsupported: dict[str, Any] | None = None) -> None:
    """Run ``osld detect`` on Ray Data (see ``osld.scale``); exits like the local engine."""
    from tqdm import tqdm

    from osld.data.images import describe_skipped
    from osld.output import ResultWriter, done_images
    from osld.scale.engine import WorkerSpec, cluster_workers, ray_session, run_ray
    from osld.scale.inputs import collect_inputs
    from osld.scale.writers import ParquetPartsWriter, add_record, done_parquet
    from osld.summary import RunSummary
    from osld.video.source import is_video

    setup_logging()
    # Ray Data logs every execution start/finish at INFO; osld prints its own progress and summary
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled": ours
    used = [name for name, value in (unsupported or {}).items() if value]
    if used:
        fail(OsldError(f"--engine ray does not support {', '.join(used)}; run those with the local engine"))
    if fmt not in RAY_FORMATS:
        fail(OsldError(f"--engine ray writes --format jsonl or parquet, not {fmt}"))
    if (resume or fmt == "parquet") and out is None:
        fail(OsldError(f"{'--resume' if resume else '--format parquet'} needs --out"))
    for item in inputs:
        if not item.exists():
            fail(OsldError(f"{item}: no such file or folder"))
        if is_video(item):
            fail(OsldError(f"{item}: videos are not supported with --engine ray; run them with the local engine"))
    try:
        not_images: list[Path] = []
        items = collect_inputs(inputs, skipped=not_images)
        done = (done_parquet(out) if fmt == "parquet" else done_images(out, fmt)) if resume else set()
        todo = [i for i in items if i.abspath not in done]
        if not items:
            if strict:
                fail(OsldError("no images found in the given inputs"))
            typer.secho("warning: no images found in the given inputs", fg=typer.colors.YELLOW, err=True)
        spec = WorkerSpec(threads=worker_threads, **spec_kwargs)
        snapshot = _registry_snapshot(registry, spec, binary, progress) if registry is not None else None
        started = time.time()
        summary = RunSummary(skipped=len(items) - len(todo))
        writer = ParquetPartsWriter(out, append=resume) if fmt == "parquet" else ResultWriter(out, fmt,
                                                                                               append=resume)
        bar = tqdm(total=len(todo), unit="img", desc="images",
                   disable=None if progress and out is not None and todo else True)
        with writer, ray_session(address) as ray:
            if todo:
                n = workers or cluster_workers(ray, worker_threads)
                typer.echo(f"ray: {n} worker(s) x {worker_threads} thread(s), {len(todo):,} images", err=True)
            for record in run_ray(todo, spec, snapshot, workers):
                writer.write_record(record)
                add_record(summary, record)
                if record["error"]:
                    typer.secho(f"skipped: {record['error']}", fg=typer.colors.YELLOW, err=True)
                bar.update(1)
        bar.close()
    except OsldError as e:
        fail(e)
    typer.echo(summary.line(time.time() - started), err=out is None)
    if not_images:
        typer.echo(f"not read (extension not supported): {describe_skipped(not_images)}", err=True)
    if (strict and summary.failed) or (todo and summary.failed == len(todo)):
        raise typer.Exit(1)


def _registry_snapshot(root: Path, spec, binary: bool, progress: bool):
    """Sync the registry on the driver (the only writer of ``.osld/`` in a distributed run) and snapshot it."""
    import sys

    from osld.embedder import load_embedder
    from osld.pipeline import default_weights_dir
    from osld.registry import Registry
    from osld.scale.snapshot import RegistrySnapshot

    emb = load_embedder(spec.embedder or default_weights_dir() / "embedder.onnx", device=spec.device,
                        threads=os.cpu_count())
    reg = Registry(root, emb, binary=binary)
    reg.sync(progress=progress and sys.stderr.isatty())
    if not reg.brands():
        typer.secho(f"warning: registry {root} has no brand folders with images; every logo will be 'unknown'",
                    fg=typer.colors.YELLOW, err=True)
    return RegistrySnapshot.of(reg)
