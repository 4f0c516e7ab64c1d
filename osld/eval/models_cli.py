"""``osld evaluate detector`` and ``osld evaluate embedder``: each model alone on validation data."""

from __future__ import annotations

from pathlib import Path

import typer

from osld.cli_base import SHARED, setup_logging
from osld.cli_base import fail as _fail
from osld.errors import OsldError

_setup_logging = setup_logging


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
    misses_png: Path | None = typer.Option(None, "--misses", dir_okay=False, help="Write a PNG of the images with "
                                           "the most missed logos: proposals, found and missed boxes, each miss's "
                                           "cause."),
    misses_max: int = typer.Option(24, min=1, help="Images in the --misses picture."),
    curve_png: Path | None = typer.Option(None, "--curve", dir_okay=False, help="Write a PNG of recall against "
                                          "proposals per image as the threshold falls, one line per set."),
) -> None:
    """Class-agnostic detector metrics: recall@IoU0.5 at the default confidence (overall and by logo size),
    AP50, AP50-95, proposals/image, and why the missed logos were missed."""
    from osld.calibration import NamingDefaults
    from osld.data.yolo import read_data_yaml, yologo_split
    from osld.detector import load_detector
    from osld.detector.evaluate import MISS_CAUSES, SIZE_BUCKETS, TOP_K_PROPOSALS, evaluate_detector, pool_results
    from osld.embedder.evaluate import save_json
    from osld.pipeline import default_weights_dir

    path = detector or default_weights_dir() / "detector.onnx"
    sets: dict[str, list[Path]] = {}
    real_names: dict[str, None] = {}  # ordered set: a repeated --real-dir is one entry of the pooled row
    results = {}
    missed: list = []
    try:
        for d in data:
            if d.suffix == ".txt":
                sets[str(d)] = [Path(line.strip()) for line in d.read_text().splitlines() if line.strip()]
            else:
                sets[str(d)] = read_data_yaml(d, split)[0]
        for r in real_dir:
            name = f"{r.name} (val)"
            real_names[name] = None
            sets[name] = yologo_split(r)[1]
        if not sets:
            raise typer.BadParameter("give at least one --data or --real-dir")
        # one low-threshold run serves AP and the thresholded metrics
        det = load_detector(path, conf=0.01, imgsz=imgsz, tile=tile)
        threshold = conf if conf is not None else det.default_conf
        # the threshold the shipped pipeline proposes regions at, so the column tracks naming.json
        proposal_conf = NamingDefaults.load(default_weights_dir()).proposal_conf
        for name, images in sets.items():
            results[name] = evaluate_detector(det, images, conf=threshold, proposal_conf=proposal_conf,
                                              misses=missed)
        if misses_png:
            from osld.detector.misses import miss_sheet
            from osld.vis import save_png

            missed.sort(key=lambda ex: -len(ex.causes))  # stable: ties keep the sets' order
            save_png(misses_png, miss_sheet(missed[:misses_max]))
    except OsldError as e:
        _fail(e)
    real = [results[name] for name in real_names]
    if len(real) > 1:  # the number issue 11's target is read from
        results["real val parts, pooled"] = pool_results(real)
    if curve_png:
        from osld.detector.curves import operating_curves_png

        operating_curves_png(results, curve_png, marked_conf=threshold)
    buckets = [b[2] for b in SIZE_BUCKETS]
    typer.echo("| set | images | boxes | recall@0.5 | " + " | ".join(f"R {b}" for b in buckets)
               + " | AP50 | AP50-95 | proposals/img | recall@0.5, top 5/img | "
               f"recall@0.5, proposals >= {proposal_conf} | proposals >= {proposal_conf}/img | "
               f"recall@0.5 within {TOP_K_PROPOSALS} proposals/img (conf) |")
    typer.echo("|---" * (11 + len(buckets)) + "|")
    for name, r in results.items():
        by = " | ".join(f"{r['recall_by_size'][b]['recall']:.2f} ({r['recall_by_size'][b]['n']})" for b in buckets)
        typer.echo(f"| {name} | {r['n_images']} | {r['n_boxes']} | {r['recall@0.5']:.3f} | {by} | {r['ap50']:.3f} | "
                   f"{r['ap50_95']:.3f} | {r['proposals_per_image']:.2f} | {r['recall@0.5_top5']:.3f} | "
                   f"{r['recall@0.5_proposals']:.3f} | {r['proposals_per_image_at_proposal_conf']:.2f} | "
                   f"{r[f'recall@0.5_within{TOP_K_PROPOSALS}']:.3f} ({r[f'conf_within{TOP_K_PROPOSALS}']:.3f}) |")
    typer.echo("\n| set (top 5 proposals/img) | " + " | ".join(f"R {b}" for b in buckets) + " |")
    typer.echo("|---" * (1 + len(buckets)) + "|")
    for name, r in results.items():
        top = r["recall_by_size_top5"]
        typer.echo(f"| {name} | " + " | ".join(f"{top[b]['recall']:.2f}" for b in buckets) + " |")
    typer.echo(f"\n| set (missed boxes at conf {threshold}, by cause) | " + " | ".join(MISS_CAUSES) + " |")
    typer.echo("|---" * (1 + len(MISS_CAUSES)) + "|")
    for name, r in results.items():
        n = max(sum(r["misses"].values()), 1)
        typer.echo(f"| {name} | " + " | ".join(f"{r['misses'][c]} ({r['misses'][c] / n:.0%})" for c in MISS_CAUSES)
                   + " |")
    typer.echo(f"(AP: VOC all-point; recall and proposals at conf={threshold}, imgsz={det.imgsz}, tile={tile}; "
               f"R <size>: recall by sqrt(box area / image area), (boxes); proposals >= {proposal_conf}: what the "
               f"pipeline's matcher can still name; within {TOP_K_PROPOSALS}: at the lowest threshold (of --curve's) "
               f"with at most {TOP_K_PROPOSALS} proposals per image on average; pooled: recalls weighted by boxes, AP "
               "not poolable; causes: "
               "the first that applies, see osld.detector.misses)")
    if json_out:
        save_json({"detector": str(path), "imgsz": det.imgsz, "tile": tile, "results": results}, json_out)


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
