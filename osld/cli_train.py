"""``osld synth`` and ``osld train detector|embedder``: data and training commands (need the [train] extra)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from osld.cli_base import SHARED, TYPER_STYLE
from osld.cli_base import fail as _fail
from osld.errors import DatasetError, OsldError

train_app = typer.Typer(help="Train the detector or the embedder (needs the [train] extra).", no_args_is_help=True,
                        **TYPER_STYLE)


class BrandSet(str, Enum):
    train = "train"
    heldout = "heldout"


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
    empty_fraction: float | None = typer.Option(None, min=0.0, max=1.0, help="Share of scenes with no logo, which "
                                                "teach the detector what is not one (default: SynthConfig's 0.08)."),
    real_logos: list[Path] = typer.Option([], help="Real YOLO folder (images/, labels/) whose train-part boxes "
                                          "(the 80 % `osld train detector` trains on) are also pasted, cut out "
                                          "of their photos. Repeatable."),
    real_logo_share: float = typer.Option(0.3, min=0.0, max=1.0, help="With --real-logos: share of pasted logos "
                                          "that are real cut-outs instead of canonical logos."),
    board_share: float | None = typer.Option(None, min=0.0, max=1.0, help="Share of canonical logos put on a "
                                             "shop sign or label board beside lines of text, boxed alone as real "
                                             "photos' labels do (default: SynthConfig's 0.15; 0: no boards)."),
    closeup_share: float | None = typer.Option(None, min=0.0, max=1.0, help="Share of scenes that are one logo "
                                               "filling most of the frame, as a product shot, a sign or a car "
                                               "emblem photo (default: SynthConfig's 0.12)."),
    chrome_share: float | None = typer.Option(None, min=0.0, max=1.0, help="Share of canonical logos made chrome "
                                              "car emblems (default: SynthConfig's 0; other surfaces still "
                                              "make some chrome)."),
) -> None:
    """Write a synthetic YOLO-format logo detection dataset (logos pasted into background photos)."""
    from osld.data.logos import read_catalogue, read_heldout
    from osld.data.real_logos import real_logo_boxes
    from osld.data.synth import SynthConfig, synthesize

    try:
        held = read_heldout(heldout)
        catalogue = read_catalogue(logos, exclude=held if brands == BrandSet.train else None)
        if brands == BrandSet.heldout:
            catalogue = [c for c in catalogue if c.brand in held]
        overrides = {"empty_fraction": empty_fraction, "board_p": board_share, "closeup_p": closeup_share,
                     "chrome_p": chrome_share}
        cfg = SynthConfig(real_logo_p=real_logo_share, **{k: v for k, v in overrides.items() if v is not None})
        real = real_logo_boxes(real_logos)
        if real_logos and not real:
            raise DatasetError(f"no labelled boxes in the train part of {', '.join(map(str, real_logos))}")
        yaml_path = synthesize(out, catalogue, backgrounds, n, seed=seed, cfg=cfg, real_logos=real)
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
    workers: int = typer.Option(0, help="Dataloader worker processes (0: load batches in the training process)."),
    threads: int = typer.Option(0, help="torch threads (0: all cores; 1 when another training runs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/detector_last.pt."),
    lr0: float | None = typer.Option(None, help="Initial learning rate (AdamW). Default: ultralytics' auto choice "
                                     "from scratch, 5e-4 when continuing (--init / --resume)."),
    multi_scale: float = typer.Option(0.0, help="Train each batch at a random size in imgsz*(1 +- this), e.g. 0.25."),
    real_repeat: int = typer.Option(1, min=1, help="List each real train image this many times (weights real "
                                    "photos against the synthetic scenes)."),
    mosaic: float = typer.Option(0.5, min=0.0, max=1.0, help="Probability that a training image is a 2x2 mosaic "
                                 "of four (off in the last epoch of a run that plans several)."),
    freeze: int = typer.Option(0, min=0, max=18, help="Freeze the first N of the backbone's 18 mobilenet_v2 "
                               "blocks (14: everything up to stride 16; 0: train all)."),
    export: Path | None = typer.Option(None, help="Export the best checkpoint to this ONNX file at the end."),
) -> None:
    """Train the class-agnostic logo detector (ultralytics YOLO, one class, CPU, offline)."""
    from osld.detector.train import DetectorTrainConfig, export_onnx, train_detector

    cfg = DetectorTrainConfig(data=tuple(str(d) for d in data), out=str(out),
                              real_dirs=tuple(str(r) for r in real_dir), max_minutes=max_minutes, epochs=epochs,
                              imgsz=imgsz, batch=batch, workers=workers, threads=threads, lr0=lr0,
                              multi_scale=multi_scale, real_repeat=real_repeat, mosaic=mosaic,
                              freeze=freeze)
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
    background_samples: int = typer.Option(0, min=0, help="Experimental (raised impostor similarity in session 23, "
                                           "see DEVELOPERS.md): patches of photos without a logo per batch, pushed "
                                           "away from every brand (outlier exposure; 0: off)."),
    negatives: list[Path] = typer.Option([SHARED / "backgrounds" / s for s in ("bsds500", "camvid", "coco128",
                                                                                "oi_personcar")],
                                         help="Photo folders without logos, for --background-samples (searched "
                                         "recursively; their validation quarter is left out)."),
    init: Path | None = typer.Option(None, help="Continue from this compact checkpoint (e.g. weights/embedder.pt)."),
    max_minutes: float = typer.Option(60.0, help="Stop after this many minutes (checkpoints every 5); with --resume, "
                                      "this many minutes more, the learning-rate schedule stretched over all of them."),
    dim: int = typer.Option(256, help="Embedding dimension."),
    size: int = typer.Option(128, help="Input size (square); the shipped embedder is trained at 128."),
    max_margin: float = typer.Option(0.3, min=0.0, max=1.0, help="Largest margin around a rendered logo or real "
                                     "box, as a fraction of its size per side (pipeline crops have none)."),
    chrome_share: float = typer.Option(0.1, min=0.0, max=0.6, help="Share of canonical renders made chrome car "
                                       "emblems (bevelled metal mirroring a sky); the rest stay flat or go on "
                                       "fabric, cans and signs."),
    real_fraction: float = typer.Option(0.25, min=0.0, max=0.6, help="Share of each batch's classes drawn from "
                                        "real photo crops (brands without canonical images, yologo instances)."),
    backbone: str = typer.Option("mobilenet_v2", help="ImageNet backbone: mobilenet_v2 (shipped) or efficientnet-"
                                 "lite0/1/2 ([backbones] extra); an --init/--resume checkpoint's must match."),
    workers: int = typer.Option(1, help="Data-rendering worker processes."),
    threads: int = typer.Option(0, help="torch threads (0: all cores; use 1 when another training runs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
    seed: int = typer.Option(0, help="Sampling and augmentation seed; a new one per --init session shows the "
                             "model new renderings."),
    export: Path | None = typer.Option(None, help="Export the trained model to this ONNX file at the end."),
) -> None:
    """Train the SDML embedder (normalized softmax, class-balanced batches, an ImageNet backbone)."""
    from osld.embedder.train import EmbedderTrainConfig, export_onnx, load_trained, train_embedder

    cfg = EmbedderTrainConfig(
        out=str(out), logos=str(logos), heldout=str(heldout), backgrounds=tuple(str(b) for b in backgrounds),
        real_instances=str(real_instances) if real_instances else None,
        real_brands=tuple(str(r) for r in real_brands), max_minutes=max_minutes, dim=dim, size=size,
        backbone=backbone, workers=workers, threads=threads, max_margin=max_margin, seed=seed,
        chrome_share=chrome_share, real_fraction=real_fraction,
        negatives=tuple(str(n) for n in negatives), background_samples=background_samples,
    )
    try:
        ckpt = train_embedder(cfg, resume=resume, init=init)
        if export:
            model, saved_cfg, _ = load_trained(ckpt)
            typer.echo(f"exported {export_onnx(model, export, saved_cfg['size'])}")
    except OsldError as e:
        _fail(e)
    typer.echo(f"checkpoint: {ckpt}")
