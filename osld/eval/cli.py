"""``osld evaluate``: mAP@0.5 and image-level metrics on FlickrLogos-32/27, YOLO and COCO sets.

Mount with ``app.add_typer(evaluate_app, name="evaluate")``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from osld.cli_base import TYPER_STYLE
from osld.errors import ConfigError, OsldError

evaluate_app = typer.Typer(
    help="Evaluate open-set logo detection: FlickrLogos-32/27, or --data data.yaml, "
    "or --coco ann.json --images DIR.",
    **TYPER_STYLE,
)

_REGISTRY = typer.Option(None, exists=True, file_okay=False, help="Registry folder of canonical logos "
                         "(<registry>/<brand>/*.png).")
_DETECTOR = typer.Option(None, exists=True, dir_okay=False, help="Detector ONNX file (default: shipped).")
_EMBEDDER = typer.Option(None, exists=True, dir_okay=False, help="Embedder ONNX file (default: shipped).")
_JSON = typer.Option(None, "--json", help="Write the metrics as JSON to this file.")
_REPORT = typer.Option(None, "--report", help="Write report.md, PR-curve and per-brand AP PNGs here.")


def _fail(err: OsldError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _load_pipeline(registry: Path, detector: Path | None, embedder: Path | None) -> Any:
    """The model, created once (tests replace this function with a stub)."""
    from osld.pipeline import Pipeline

    kwargs = {"registry": registry, "detector": detector, "embedder": embedder}
    # keep_all: every proposal named by its best brand, so AP ranks by confidence over the full PR curve
    return Pipeline.from_pretrained(**{k: str(v) for k, v in kwargs.items() if v is not None}, keep_all=True)


def _run(samples: list, title: str, registry: Path, detector: Path | None, embedder: Path | None,
         json_out: Path | None, report: Path | None) -> dict[str, Any]:
    from osld.eval.metrics import evaluate, image_level_metrics, operating_point
    from osld.eval.report import format_summary, write_json, write_report
    from osld.eval.runner import pipeline_predictor, predict_samples

    pipe = _load_pipeline(registry, detector, embedder)
    full = predict_samples(samples, pipeline_predictor(pipe), progress=True)
    result = evaluate(samples, full)
    # the operating point: what `osld detect` reports with the default thresholds, from the same pass
    # (a stand-in model without thresholds reports its detections as they are)
    thresholds = pipe.thresholds() if hasattr(pipe, "thresholds") else None
    ops = full if thresholds is None else [None if d is None else pipe.decide_kept(d) for d in full]
    img = image_level_metrics(samples, ops)
    result.update(image_level=img, image_accuracy=img["accuracy"], image_precision=img["precision"],
                  image_recall=img["recall"])
    result["operating_point"] = {**operating_point(samples, ops),
                                 **(dict(zip(("accept_sim", "min_conf", "unknown_conf"), thresholds, strict=True))
                                    if thresholds else {})}
    result["dataset"] = title
    typer.echo(format_summary(result, title))
    if json_out:
        typer.echo(f"metrics: {write_json(result, json_out)}")
    if report:
        typer.echo(f"report: {write_report(result, report, title)}")
    return result


def _require_registry(registry: Path | None) -> Path:
    if registry is None:
        raise ConfigError("--registry is required: a folder of canonical logos of the dataset's brands")
    return registry


@contextmanager
def _fl32_registry(root: Path, registry: Path | None, n_train: int | None) -> Iterator[Path]:
    """The given registry, or a temporary one cropped from the first ``n_train`` training images per brand."""
    if (registry is None) == (n_train is None):
        raise ConfigError("give exactly one of --registry DIR or --registry-from-train N")
    if registry is not None:
        yield registry
        return
    from osld.eval.flickrlogos import flickrlogos32_train_crops

    with tempfile.TemporaryDirectory(prefix="osld-fl32-registry-") as tmp:
        counts = flickrlogos32_train_crops(root, n_train, tmp, progress=True)
        typer.echo(f"registry: {sum(counts.values())} crops of {len(counts)} brands from the first {n_train} "
                   f"training images per brand ({tmp})")
        yield Path(tmp)


@evaluate_app.command("flickrlogos32")
def flickrlogos32_cmd(
    root: Path = typer.Option(..., exists=True, file_okay=False, help="The FlickrLogos-v2/ folder."),
    split: str = typer.Option("testset", help="Split list: testset, valset, trainset, testset-logosonly, "
                              "all, or a .txt list path."),
    registry: Path | None = _REGISTRY,
    registry_from_train: int | None = typer.Option(None, min=1, help="Build the registry from the first N "
                                                   "trainset.txt images per brand, cropped at their boxes."),
    detector: Path | None = _DETECTOR,
    embedder: Path | None = _EMBEDDER,
    json_out: Path | None = _JSON,
    report: Path | None = _REPORT,
) -> None:
    """FlickrLogos-32, open-set: the models as they are; mAP@0.5, per-brand AP, recall, SDK image metrics."""
    from osld.eval.flickrlogos import read_flickrlogos32

    try:
        samples = read_flickrlogos32(root, split)
        if registry_from_train and split in ("trainset", "all"):
            typer.secho(f"warning: split '{split}' contains the registry's own training images",
                        fg="yellow", err=True)
        with _fl32_registry(root, registry, registry_from_train) as reg:
            _run(samples, f"FlickrLogos-32 {split}", reg, detector, embedder, json_out, report)
    except OsldError as e:
        _fail(e)


@evaluate_app.command("flickrlogos27")
def flickrlogos27_cmd(
    root: Path = typer.Option(..., exists=True, file_okay=False, help="Folder with the FlickrLogos-27 "
                              "annotation files and flickr_logos_27_dataset_images/."),
    registry: Path | None = _REGISTRY,
    detector: Path | None = _DETECTOR,
    embedder: Path | None = _EMBEDDER,
    json_out: Path | None = _JSON,
    report: Path | None = _REPORT,
) -> None:
    """FlickrLogos-27: detection metrics on the annotated images, image-level metrics on the query set."""
    from osld.eval.flickrlogos import read_flickrlogos27

    try:
        samples = read_flickrlogos27(root)
        _run(samples, "FlickrLogos-27", _require_registry(registry), detector, embedder, json_out, report)
    except OsldError as e:
        _fail(e)


@evaluate_app.callback(invoke_without_command=True)
def evaluate_callback(
    ctx: typer.Context,
    data: Path | None = typer.Option(None, exists=True, dir_okay=False, help="YOLO data.yaml."),
    split: str = typer.Option("val", help="Split of --data to evaluate."),
    coco: Path | None = typer.Option(None, exists=True, dir_okay=False, help="COCO json."),
    images: Path | None = typer.Option(None, exists=True, file_okay=False, help="Image folder of --coco."),
    registry: Path | None = _REGISTRY,
    detector: Path | None = _DETECTOR,
    embedder: Path | None = _EMBEDDER,
    json_out: Path | None = _JSON,
    report: Path | None = _REPORT,
) -> None:
    """Evaluate on FlickrLogos-32/27, a YOLO --data data.yaml, or --coco ann.json --images DIR.

    Brands are the yaml's class names or the COCO category names.
    """
    if ctx.invoked_subcommand is not None:
        if data or coco:
            raise typer.BadParameter("--data/--coco cannot be combined with a subcommand")
        return
    if data is None and coco is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from osld.eval.datasets import read_coco, read_yolo_dataset

    try:
        if data is not None and coco is not None:
            raise ConfigError("give either --data or --coco, not both")
        if coco is not None and images is None:
            raise ConfigError("--coco needs --images DIR (the folder its file_name entries are relative to)")
        samples = read_yolo_dataset(data, split) if data is not None else read_coco(coco, images)
        title = f"{data.name} {split}" if data is not None else coco.name
        _run(samples, title, _require_registry(registry), detector, embedder, json_out, report)
    except OsldError as e:
        _fail(e)
