"""The ``osld`` command line: a thin typer layer over the Python API."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from osld.cli_base import TYPER_STYLE, OsldGroup, fail, setup_logging
from osld.errors import OsldError
from osld.pipeline import MatchConfig

app = typer.Typer(
    cls=OsldGroup,
    help="Open-set logo detection: find every logo in photos and name its brand from a folder of canonical logos.",
    no_args_is_help=True,
    **TYPER_STYLE,
)
from osld.cli_train import synth, train_app  # noqa: E402  (training commands live beside each other)

app.command()(synth)
app.add_typer(train_app, name="train")

from osld.eval.cli import evaluate_app  # noqa: E402  (sub-app defined in its own module)
from osld.eval.models_cli import evaluate_detector_cmd, evaluate_embedder_cmd  # noqa: E402

evaluate_app.command("detector")(evaluate_detector_cmd)
evaluate_app.command("embedder")(evaluate_embedder_cmd)

app.add_typer(evaluate_app, name="evaluate")

from osld.discover.cli import discover_app  # noqa: E402

app.add_typer(discover_app, name="discover")



class OutputFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"  # --engine ray only: a folder of part files (osld.scale.writers)


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


_setup_logging = setup_logging


_fail = fail


@app.command()
def detect(
    inputs: list[Path] = typer.Argument(..., help="Image files and/or folders (searched recursively)."),
    registry: Path | None = typer.Option(None, exists=True, file_okay=False, help="Registry folder "
                                         "(<brand>/<images>). Without it every logo is 'unknown'."),
    out: Path | None = typer.Option(None, help="Output file (default: stdout)."),
    fmt: OutputFormat = typer.Option(OutputFormat.jsonl, "--format", help="jsonl: one record per image; csv: one "
                                     "row per detection."),
    save_vis: Path | None = typer.Option(None, help="Write annotated images to this folder."),
    resume: bool = typer.Option(False, "--resume", help="Skip images already in --out and append."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any input fails (default: only if all fail)."),
    min_sim: float | None = typer.Option(None, help="Similarity below which a region is 'unknown' [default: the "
                                         "registry's calibrated threshold for --far]."),
    far: float | None = typer.Option(None, help="Target false-accept rate of the registry's calibrated threshold "
                                     "[default: far in weights/naming.json]."),
    conf: float | None = typer.Option(None, help="Detector proposal threshold [default: proposal_conf in "
                                      "weights/naming.json]."),
    imgsz: int | None = typer.Option(None, help="Detector input size (default: the model's)."),
    tile: int = typer.Option(1, help="Also detect on a TILE x TILE grid of crops, for large photos with small "
                             "logos (cost: TILE^2 + 1 detector passes)."),
    top_k: int | None = typer.Option(None, help=f"Alternative brands kept per region [default: {MatchConfig.top_k}]."),
    binary: bool = typer.Option(False, "--binary", help="Find candidates by Hamming distance over sign-binarized "
                                "embeddings (faiss IndexBinaryFlat), re-ranked by exact cosine."),
    detector: Path | None = typer.Option(None, help="Detector ONNX (default: shipped weights/detector.onnx)."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped weights/embedder.onnx)."),
    device: Device = typer.Option(Device.auto, help="auto uses CUDA when onnxruntime-gpu finds a GPU."),
    batch_size: int = typer.Option(8, help="Images per model call."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    fps: float = typer.Option(2.0, help="Video frames analysed per second of video (0: every frame)."),
    save_embeddings: Path | None = typer.Option(None, help="Write every image region's embedding, keyed to image "
                                                "and box, to this .npz file (for `osld discover`)."),
    text: bool = typer.Option(False, "--text", help="Also read the words in each region (OCR, [text] extra) and "
                              "match them to the brand names (folder name + aliases.txt)."),
    engine: Engine = typer.Option(Engine.local, help="local: this process; ray: Ray Data actors on a Ray cluster "
                                  "([ray] extra; inputs may be list files: .txt, .csv, .parquet; docs/scale-out.md)."),
    address: str | None = typer.Option(None, help="--engine ray: the cluster to join (auto, ray://HOST:10001) "
                                       "[default: start a local Ray]."),
    workers: int | None = typer.Option(None, min=1, help="--engine ray: actors [default: cluster CPUs / "
                                       "--worker-threads]."),
    worker_threads: int = typer.Option(1, min=1, help="--engine ray: ONNX threads (= CPUs) per actor."),
) -> None:
    """Find logos in images and videos (mp4, mov, mkv, webm, avi: one record per sampled frame) and name brands."""
    if engine is Engine.ray:  # same records from Ray actors (osld/scale/)
        from osld.scale.cli import detect_ray

        return detect_ray(inputs, registry, out, fmt.value, resume, strict, progress, address, workers, worker_threads,
                          dict(detector=detector and str(detector), embedder=embedder and str(embedder),
                               device=device.value, conf=conf, imgsz=imgsz, tile=tile, text=text, batch_size=batch_size,
                               match=dict(min_sim=min_sim, far=far, top_k=top_k)), binary=binary,
                          unsupported={"--save-vis": save_vis, "--save-embeddings": save_embeddings})
    if fmt is OutputFormat.parquet:
        raise typer.BadParameter("parquet needs --engine ray", param_hint="'--format'")
    import contextlib
    import os
    import time

    from osld.data.images import describe_skipped, iter_image_files
    from osld.output import ResultWriter, done_images
    from osld.pipeline import Pipeline
    from osld.summary import RunSummary, VisNames, plural
    from osld.vis import save_annotated

    _setup_logging()
    if resume and out is None:
        _fail(OsldError("--resume needs --out"))
    for item in inputs:
        if not item.exists():
            _fail(OsldError(f"{item}: no such file or folder"))
    from osld.video import detect_videos, split_inputs

    videos, inputs = split_inputs(inputs)
    try:
        pipe = Pipeline.from_pretrained(registry=registry, detector=detector, embedder=embedder, device=device.value,
                                        conf=conf, imgsz=imgsz, tile=tile, binary=binary, min_sim=min_sim,
                                        far=far, top_k=top_k, text=text)
        if pipe.registry is not None and not pipe.registry.brands() and pipe.registry.index_dir.is_dir():
            typer.secho(f"warning: registry {registry} has no brand folders with images; every logo will be "
                        "'unknown'", fg=typer.colors.YELLOW, err=True)
        not_images: list[Path] = []
        files = list(iter_image_files(inputs, skipped=not_images))
        skip = {os.path.abspath(p) for p in done_images(out, fmt.value)} if resume else set()
        todo = [f for f in files if os.path.abspath(f) not in skip]
        if not files and not videos:
            if strict:
                _fail(OsldError("no images found in the given inputs"))
            typer.secho("warning: no images found in the given inputs", fg=typer.colors.YELLOW, err=True)
        started = time.time()
        summary = RunSummary(skipped=len(files) - len(todo))  # done in an earlier run
        vis_name = VisNames()
        with ResultWriter(out, fmt.value, append=resume) as writer, contextlib.ExitStack() as stack:
            emb_writer = stack.enter_context(_embedding_writer(save_embeddings, pipe, resume, out, fmt.value))
            vids = detect_videos(pipe, videos, writer, fps=fps, batch_size=batch_size, resume=resume,
                                 progress=progress and out is not None, on_error=lambda e: typer.secho(
                                     f"skipped: {e}", fg=typer.colors.YELLOW, err=True))
            for res in pipe.run(todo, batch_size=batch_size, progress=progress and out is not None and bool(todo),
                                keep_images=save_vis is not None):
                writer.write(res.path, res.detections, res.error)
                if emb_writer is not None:
                    emb_writer.add(res.path, res.detections)
                summary.add(res.detections, res.error)
                if res.error:
                    typer.secho(f"skipped: {res.error}", fg=typer.colors.YELLOW, err=True)
                elif save_vis is not None:
                    save_annotated(res.image.pixels, res.detections, save_vis, vis_name(res.path),
                                   scale=res.image.scale)
    except OsldError as e:
        _fail(e)
    if videos:
        found = ", ".join(f"{b} ({n})" for b, n in sorted(vids.brands.items(), key=lambda x: (-x[1], x[0])))
        typer.echo(f"{plural(len(videos), 'video')}: {plural(vids.frames, 'frame')} ({vids.failed} failed, "
                   f"{vids.skipped} skipped as done), {plural(vids.boxes, 'detection')}; brands: {found or 'none'}",
                   err=out is None)
    if files or not videos:
        typer.echo(summary.line(time.time() - started), err=out is None)
    video_paths = {os.path.abspath(v) for v in videos}  # read by the video path, not skipped
    not_images = [p for p in not_images if os.path.abspath(p) not in video_paths]
    if not_images:
        typer.echo(f"not read (extension not supported): {describe_skipped(not_images)}", err=True)
    if videos and ((strict and vids.failed) or (not todo and vids.failed and not vids.frames)):
        raise typer.Exit(1)
    if (strict and summary.failed) or (todo and summary.failed == len(todo)):
        raise typer.Exit(1)


def _embedding_writer(path: Path | None, pipe, resume: bool, out: Path | None, fmt: str):
    import contextlib

    if path is None:
        return contextlib.nullcontext()
    if resume and fmt != "jsonl":
        raise OsldError("--save-embeddings with --resume needs --format jsonl")
    from osld.discover.embeddings import EmbeddingWriter, read_results

    return EmbeddingWriter(path, pipe.embedder, resume, read_results(out) if resume and out.exists() else [])


@app.command()
def register(
    brand: str = typer.Argument(..., help="Brand name (becomes the folder name)."),
    images: list[Path] = typer.Argument(..., help="Canonical images or folders of them."),
    registry: Path = typer.Option(..., help="Registry folder."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped weights/embedder.onnx)."),
) -> None:
    """Add canonical images for a brand: copies them into REGISTRY/BRAND/ and embeds only the new files."""
    from osld.registry import Registry

    _setup_logging()
    try:
        reg = Registry(registry, _embedder(embedder))
        added = reg.add(brand, images, sync=False)
        stats = reg.sync(progress=True)
    except OsldError as e:
        _fail(e)
    typer.echo(f"{added[0].parent.name}: {len(added)} image(s) in {added[0].parent}; index: {stats['added']} added, "
               f"{stats['changed']} changed, {stats['removed']} removed, {stats['kept']} unchanged")


registry_app = typer.Typer(help="Inspect and maintain a registry folder.", no_args_is_help=True, **TYPER_STYLE)
app.add_typer(registry_app, name="registry")


def _embedder(path: Path | None):
    from osld.embedder import load_embedder
    from osld.pipeline import default_weights_dir

    return load_embedder(path or default_weights_dir() / "embedder.onnx")


@registry_app.command("list")
def registry_list(
    registry: Path = typer.Option(..., exists=True, file_okay=False, help="Registry folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List brands and their image counts."""
    import json

    from osld.registry import Registry

    counts = Registry(registry).counts()
    if as_json:
        typer.echo(json.dumps(counts, ensure_ascii=False, indent=1))
        return
    for b, n in counts.items():
        typer.echo(f"{b}\t{n}")
    typer.echo(f"{len(counts)} brands, {sum(counts.values())} images", err=True)


@registry_app.command("remove")
def registry_remove(
    brand: str = typer.Argument(..., help="Brand to delete (its folder and index rows)."),
    registry: Path = typer.Option(..., exists=True, file_okay=False, help="Registry folder."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped)."),
) -> None:
    """Remove a brand."""
    from osld.registry import Registry

    try:
        n = Registry(registry, _embedder(embedder)).remove(brand)
    except OsldError as e:
        _fail(e)
    typer.echo(f"removed {brand} ({n} images)")


@registry_app.command("rebuild")
def registry_rebuild(
    registry: Path = typer.Option(..., exists=True, file_okay=False, help="Registry folder."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped)."),
) -> None:
    """Drop the index and re-embed every image."""
    from osld.registry import Registry

    _setup_logging()
    try:
        stats = Registry(registry, _embedder(embedder)).rebuild(progress=True)
    except OsldError as e:
        _fail(e)
    typer.echo(f"rebuilt: {stats['added']} images embedded, {stats['failed']} unreadable")


from osld.bench import bench_command  # noqa: E402  (defined beside the benchmark code)
from osld.report.cli import report_command  # noqa: E402  (defined beside the report code)

app.command("report")(report_command)

app.command("bench")(bench_command)

from osld.serve.cli import serve_command  # noqa: E402  (FastAPI is imported only when the command runs)

app.command("serve")(serve_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
