"""The ``osld`` command line: a thin typer layer over the Python API."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from osld.cli_base import TYPER_STYLE, OsldGroup
from osld.errors import OsldError
from osld.pipeline import MatchConfig

app = typer.Typer(
    cls=OsldGroup,
    help="Open-set logo detection: find every logo in photos and name its brand from a folder of canonical logos.",
    no_args_is_help=True,
    **TYPER_STYLE,
)
train_app = typer.Typer(help="Train the detector or the embedder (needs the [train] extra).", no_args_is_help=True,
                        **TYPER_STYLE)
app.add_typer(train_app, name="train")

from osld.eval.cli import evaluate_app  # noqa: E402  (sub-app defined in its own module)

app.add_typer(evaluate_app, name="evaluate")

from osld.discover.cli import discover_app  # noqa: E402

app.add_typer(discover_app, name="discover")

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def _setup_logging() -> None:
    import logging

    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.INFO)
    logging.getLogger("faiss").setLevel(logging.WARNING)  # faiss logs its loader at INFO


def _fail(err: OsldError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


class BrandSet(str, Enum):
    train = "train"
    heldout = "heldout"


@app.command()
def synth(
    out: Path = typer.Option(..., help="Output folder (images/, labels/, data.yaml)."),
    n: int = typer.Option(1000, help="Number of scenes."),
    seed: int = typer.Option(0, help="Random seed; scene i depends only on (seed, i)."),
    brands: BrandSet = typer.Option(BrandSet.train, help="train: all brands minus the held-out list; "
                                    "heldout: only held-out brands (open-set validation)."),
    logos: Path = typer.Option(SHARED / "logos", help="Canonical logo folder with manifest.csv."),
    backgrounds: list[Path] = typer.Option(
        [SHARED / "backgrounds"], help="Background photo folders (searched recursively; default: every source)."),
    heldout: Path = typer.Option(SHARED / "heldout_brands.txt", help="Brands training must never see."),
) -> None:
    """Write a synthetic YOLO-format logo detection dataset (logos pasted into background photos)."""
    from osld.data.logos import read_catalogue, read_heldout
    from osld.data.synth import synthesize

    try:
        held = read_heldout(heldout)
        catalogue = read_catalogue(logos, exclude=held if brands == BrandSet.train else None)
        if brands == BrandSet.heldout:
            catalogue = [c for c in catalogue if c.brand in held]
        yaml_path = synthesize(out, catalogue, backgrounds, n, seed=seed)
    except OsldError as e:
        _fail(e)
    typer.echo(f"wrote {n} scenes; dataset: {yaml_path}")


@train_app.command("detector")
def train_detector_cmd(
    data: list[Path] = typer.Option(..., exists=True, dir_okay=False, help="Synthetic data.yaml from `osld synth` "
                                    "(repeatable)."),
    out: Path = typer.Option(..., help="Run folder (checkpoints, logs, plots)."),
    real_dir: list[Path] = typer.Option([], help="Real YOLO folder (images/, labels/) split 80/20 by file name into "
                                        "train and a never-trained-on val part (repeatable)."),
    init: Path | None = typer.Option(None, help="Continue from this compact checkpoint (e.g. weights/detector.pt)."),
    max_minutes: float = typer.Option(60.0, help="Stop training after this many minutes."),
    epochs: int = typer.Option(30, help="Epoch cap (the time budget usually ends training first)."),
    imgsz: int = typer.Option(320, help="Training input size."),
    batch: int = typer.Option(16, help="Batch size."),
    workers: int = typer.Option(2, help="Dataloader worker processes."),
    threads: int = typer.Option(0, help="torch threads (0: all cores; 1 when another training runs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/detector_last.pt."),
    lr0: float | None = typer.Option(None, help="Initial learning rate (AdamW). Default: ultralytics' auto choice "
                                     "from scratch, 5e-4 when continuing (--init / --resume)."),
    multi_scale: float = typer.Option(0.0, help="Train each batch at a random size in imgsz*(1 +- this), e.g. 0.25."),
    export: Path | None = typer.Option(None, help="Export the best checkpoint to this ONNX file at the end."),
) -> None:
    """Train the class-agnostic logo detector (ultralytics YOLO, one class, CPU, offline)."""
    from osld.detector.train import DetectorTrainConfig, export_onnx, train_detector

    cfg = DetectorTrainConfig(data=tuple(str(d) for d in data), out=str(out),
                              real_dirs=tuple(str(r) for r in real_dir), max_minutes=max_minutes, epochs=epochs,
                              imgsz=imgsz, batch=batch, workers=workers, threads=threads, lr0=lr0,
                              multi_scale=multi_scale)
    try:
        best = train_detector(cfg, init=init, resume=resume)
        if export:
            typer.echo(f"exported {export_onnx(best, export, imgsz=imgsz)}")
    except OsldError as e:
        _fail(e)
    typer.echo(f"best checkpoint: {best}")


@train_app.command("embedder")
def train_embedder_cmd(
    out: Path = typer.Option(..., help="Run folder (last.pt checkpoint, train_log.jsonl, split.json)."),
    logos: Path = typer.Option(SHARED / "logos", help="Canonical logo folder with manifest.csv."),
    heldout: Path = typer.Option(SHARED / "heldout_brands.txt", help="Brands training must never see."),
    backgrounds: list[Path] = typer.Option([SHARED / "backgrounds", SHARED / "real" / "yologo" / "images"],
                                           help="Photo folders for background patches (searched recursively)."),
    real_instances: Path | None = typer.Option(SHARED / "real" / "yologo", help="YOLO folder whose boxes (train "
                                               "split) become instance-level classes."),
    real_brands: list[Path] = typer.Option(
        [SHARED / "real" / "logodet3k_clothes", SHARED / "real" / "beerjp", SHARED / "real" / "tdtu"],
        help="Folders with labels_brand/: their train split's crops join their brand's class (repeatable)."),
    init: Path | None = typer.Option(None, help="Continue from this compact checkpoint (e.g. weights/embedder.pt)."),
    max_minutes: float = typer.Option(60.0, help="Stop after this many minutes (checkpoints every 5)."),
    dim: int = typer.Option(256, help="Embedding dimension."),
    size: int = typer.Option(112, help="Input size (square)."),
    workers: int = typer.Option(1, help="Data-rendering worker processes."),
    threads: int = typer.Option(0, help="torch threads (0: all cores; use 1 when another training runs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
    export: Path | None = typer.Option(None, help="Export the trained model to this ONNX file at the end."),
) -> None:
    """Train the SDML embedder (normalized softmax, class-balanced batches, ImageNet mobilenet_v2)."""
    from osld.embedder.train import EmbedderTrainConfig, export_onnx, load_trained, train_embedder

    cfg = EmbedderTrainConfig(
        out=str(out), logos=str(logos), heldout=str(heldout), backgrounds=tuple(str(b) for b in backgrounds),
        real_instances=str(real_instances) if real_instances else None,
        real_brands=tuple(str(r) for r in real_brands), max_minutes=max_minutes, dim=dim, size=size,
        workers=workers, threads=threads,
    )
    try:
        ckpt = train_embedder(cfg, resume=resume, init=init)
        if export:
            model, saved_cfg, _ = load_trained(ckpt)
            typer.echo(f"exported {export_onnx(model, export, saved_cfg['size'])}")
    except OsldError as e:
        _fail(e)
    typer.echo(f"checkpoint: {ckpt}")


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
) -> None:
    """Find logos in images and videos (mp4, mov, mkv, webm, avi: one record per sampled frame) and name brands."""
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


@evaluate_app.command("detector")
def evaluate_detector_cmd(
    data: list[Path] = typer.Option([], exists=True, dir_okay=False, help="YOLO data.yaml (its val split) or a "
                                    ".txt image list; repeat for several sets."),
    real_dir: list[Path] = typer.Option([], exists=True, file_okay=False, help="Real YOLO folder: its fixed "
                                        "never-trained-on val part (20% by file name); repeatable."),
    detector: Path | None = typer.Option(None, help="Detector ONNX (default: shipped)."),
    conf: float | None = typer.Option(None, help="Confidence for recall and proposals (default: the model's)."),
    imgsz: int | None = typer.Option(None, help="Network input size (default: the model's)."),
    tile: int = typer.Option(1, help="Also run on a TILE x TILE grid of overlapping crops (1: off)."),
    split: str = typer.Option("val", help="Split of data.yaml to use."),
    json_out: Path | None = typer.Option(None, "--json", help="Write metrics as JSON."),
) -> None:
    """Class-agnostic detector metrics: recall@IoU0.5 at the default confidence (overall and by logo size),
    AP50, AP50-95, proposals/image."""
    from osld.data.yolo import read_data_yaml, yologo_split
    from osld.detector import load_detector
    from osld.detector.evaluate import SIZE_BUCKETS, evaluate_detector
    from osld.embedder.evaluate import save_json
    from osld.pipeline import default_weights_dir

    path = detector or default_weights_dir() / "detector.onnx"
    sets: dict[str, list[Path]] = {}
    results = {}
    try:
        for d in data:
            if d.suffix == ".txt":
                sets[str(d)] = [Path(line.strip()) for line in d.read_text().splitlines() if line.strip()]
            else:
                sets[str(d)] = read_data_yaml(d, split)[0]
        for r in real_dir:
            sets[f"{r.name} (val)"] = yologo_split(r)[1]
        if not sets:
            raise typer.BadParameter("give at least one --data or --real-dir")
        # one low-threshold run serves AP and the thresholded metrics
        det = load_detector(path, conf=0.01, imgsz=imgsz, tile=tile)
        threshold = conf if conf is not None else det.default_conf
        for name, images in sets.items():
            results[name] = evaluate_detector(det, images, conf=threshold)
    except OsldError as e:
        _fail(e)
    buckets = [b[2] for b in SIZE_BUCKETS]
    typer.echo("| set | images | boxes | recall@0.5 | " + " | ".join(f"R {b}" for b in buckets)
               + " | AP50 | AP50-95 | proposals/img |")
    typer.echo("|---" * (7 + len(buckets)) + "|")
    for name, r in results.items():
        by = " | ".join(f"{r['recall_by_size'][b]['recall']:.2f} ({r['recall_by_size'][b]['n']})" for b in buckets)
        typer.echo(f"| {name} | {r['n_images']} | {r['n_boxes']} | {r['recall@0.5']:.3f} | {by} | {r['ap50']:.3f} | "
                   f"{r['ap50_95']:.3f} | {r['proposals_per_image']:.2f} |")
    typer.echo(f"(AP: VOC all-point; recall and proposals at conf={threshold}, imgsz={det.imgsz}, tile={tile}; "
               "R <size>: recall by sqrt(box area / image area), (boxes))")
    if json_out:
        save_json({"detector": str(path), "imgsz": det.imgsz, "tile": tile, "results": results}, json_out)


@evaluate_app.command("embedder")
def evaluate_embedder_cmd(
    embedder: list[Path] = typer.Option(None, help="Embedder ONNX file(s) to compare (default: shipped)."),
    baseline: bool = typer.Option(True, help="Also evaluate the untrained ImageNet backbone (needs torch)."),
    logos: Path = typer.Option(SHARED / "logos", help="Canonical logos (registry + distractors)."),
    vehicle_logos: Path = typer.Option(SHARED / "real" / "vehicle_logos", help="Real car-emblem crops."),
    backgrounds: Path = typer.Option(SHARED / "backgrounds" / "bsds500", help="Backgrounds for (b)'s renders."),
    real_brands: list[Path] = typer.Option(
        [SHARED / "real" / "logodet3k_clothes", SHARED / "real" / "beerjp", SHARED / "real" / "tdtu"],
        help="(c): folders with labels_brand/; their never-trained-on val side are the queries."),
    heldout: Path = typer.Option(SHARED / "heldout_brands.txt", help="Held-out brand list."),
    cache_dir: Path = typer.Option(Path("work") / "eval_embedder", help="Registry folders + indexes (cached)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write metrics as JSON."),
) -> None:
    """Open-set Recall@1/@5: (a) real car emblems (held-out brands), (b) renders of validation brands, (c) real
    brand photos' val side; against every canonical logo and against the evaluated brands alone."""
    from osld.data.logos import by_brand, read_catalogue, read_heldout
    from osld.embedder import load_embedder
    from osld.embedder.data import brand_split
    from osld.embedder.evaluate import EmbedderEvalData, evaluate_embedder, format_table, save_json
    from osld.pipeline import default_weights_dir

    _setup_logging()
    catalogue = read_catalogue(logos, exclude=read_heldout(heldout))
    _, val = brand_split(list(by_brand(catalogue)), 0.1)
    data = EmbedderEvalData(logos, vehicle_logos, backgrounds, tuple(val), tuple(real_brands))
    models = {str(p): p for p in (embedder or [default_weights_dir() / "embedder.onnx"])}
    if baseline:
        from osld.embedder.model import BaselineNet
        from osld.embedder.train import export_onnx

        base = cache_dir / "baseline_imagenet_mobilenet_v2.onnx"
        if not base.exists():
            export_onnx(BaselineNet(), base, load_embedder(next(iter(models.values()))).size)
        models = {"ImageNet baseline (no training)": base, **models}
    results = {}
    try:
        for name, path in models.items():
            emb = load_embedder(path)
            results[name] = evaluate_embedder(emb, data, cache_dir / emb.fingerprint[:12])
    except OsldError as e:
        _fail(e)
    typer.echo(format_table(results))
    if json_out:
        save_json(results, json_out)


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
