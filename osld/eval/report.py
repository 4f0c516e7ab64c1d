"""Evaluation output: console summary, JSON, markdown report and PNG plots (matplotlib, Agg canvas)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from osld.eval.metrics import AP_METHOD

_ARRAY_KEYS = ("pr_curves", "agnostic_pr")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _notes(result: dict[str, Any]) -> list[str]:
    notes = [f"AP: {result.get('ap_method', AP_METHOD)}; mAP@0.5 is the mean over the brands with "
             "ground truth."]
    n_empty = result.get("n_box_images_without_logo", 0)
    if n_empty:
        notes.append(f"{n_empty} images without logos (no-logo) are evaluated too: they have no boxes, so "
                     "any detection on them only adds false positives.")
    if result.get("n_unreadable"):
        notes.append(f"{result['n_unreadable']} images could not be read and count as having no detections.")
    return notes


def format_summary(result: dict[str, Any], title: str = "evaluation") -> str:
    """Plain-text summary (per-brand AP table, mAP, class-agnostic recall, image-level metrics)."""
    lines = [f"{title}: {result['n_images']} images, {result['n_gt_boxes']} ground-truth boxes, "
             f"{result['n_predictions']} detections"]
    lines += _notes(result)
    width = max([len("brand"), *(len(b) for b in result["per_class_ap"])])
    lines.append("")
    lines.append(f"{'brand':<{width}}  {'GT':>5}  {'pred':>6}  {'AP@0.5':>6}")
    for brand, ap in result["per_class_ap"].items():
        lines.append(f"{brand:<{width}}  {result['per_class_n_gt'][brand]:>5}  "
                     f"{result['per_class_n_pred'][brand]:>6}  {_fmt(ap):>6}")
    lines.append(f"{'mAP@0.5':<{width}}  {'':>5}  {'':>6}  {_fmt(result['map50']):>6}")
    lines.append("")
    lines.append(f"class-agnostic: detection recall@0.5 {_fmt(result['detection_recall'])}, "
                 f"AP@0.5 {_fmt(result['agnostic_ap50'])}")
    op = result.get("operating_point")
    if op:
        thr = (f" (similarity >= {op['accept_sim']:.3f}, confidence >= {op['min_conf']:.2f})"
               if "accept_sim" in op else "")
        lines.append(f"operating point{thr}: {op['n_named']} named detections, precision "
                     f"{_fmt(op['precision'])}, brand recall@0.5 {_fmt(op['recall'])}")
    img = result["image_level"]
    if img["n_images"]:
        lines.append(f"image level (FlickrLogos-32 SDK, {img['n_images']} images, {img['n_no_logo_images']} "
                     f"no-logo): accuracy {_fmt(result['image_accuracy'])}, precision "
                     f"{_fmt(result['image_precision'])}, recall {_fmt(result['image_recall'])}")
    else:
        lines.append("image level: n/a (the dataset has no image-level labels)")
    return "\n".join(lines)


def to_jsonable(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its PR-curve arrays (plain floats, ints, strings and dicts)."""
    return {k: v for k, v in result.items() if k not in _ARRAY_KEYS}


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``to_jsonable(result)`` to ``path`` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(result), indent=2) + "\n")
    return path


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, Any]:
    # The object-oriented API on an explicit Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def plot_pr_curves(result: dict[str, Any], path: str | Path) -> Path:
    """Per-brand PR curves (left) and the class-agnostic PR curve (right) as one PNG."""
    fig, (ax_cls, ax_ag) = _figure(13, 6, ncols=2)
    for brand, curve in result["pr_curves"].items():
        ap = result["per_class_ap"][brand]
        ax_cls.plot(curve["recall"], curve["precision"], lw=1, label=f"{brand} ({_fmt(ap, 2)})")
    ax_cls.set_title(f"per-brand precision-recall, IoU 0.5 (mAP {_fmt(result['map50'])})")
    if result["pr_curves"]:
        ax_cls.legend(fontsize=6, ncol=2, loc="lower left")
    ag = result["agnostic_pr"]
    ax_ag.plot(ag["recall"], ag["precision"], color="black", lw=2)
    ax_ag.set_title(f"class-agnostic precision-recall (AP {_fmt(result['agnostic_ap50'])})")
    for ax in (ax_cls, ax_ag):
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


def plot_per_class_ap(result: dict[str, Any], path: str | Path) -> Path:
    """Horizontal bar chart of per-brand AP@0.5, best first, with the mAP as a dashed line."""
    items = sorted(result["per_class_ap"].items(), key=lambda kv: kv[1])
    fig, (ax,) = _figure(7, max(3.0, 0.28 * len(items) + 1.2))
    ax.barh([b for b, _ in items], [ap for _, ap in items], color="tab:blue")
    if result["map50"] is not None:
        ax.axvline(result["map50"], color="tab:red", ls="--", label=f"mAP@0.5 {_fmt(result['map50'])}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set(xlim=(0, 1), xlabel="AP@0.5 (VOC all-point)", title="per-brand AP")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


def format_markdown(result: dict[str, Any], title: str = "evaluation") -> str:
    """``report.md`` text: summary table, per-brand AP table, notes and the two plots."""
    img = result["image_level"]
    rows = [
        ("mAP@0.5", _fmt(result["map50"])),
        ("class-agnostic detection recall@0.5", _fmt(result["detection_recall"])),
        ("class-agnostic AP@0.5", _fmt(result["agnostic_ap50"])),
        ("image-level accuracy", _fmt(result["image_accuracy"])),
        ("image-level precision", _fmt(result["image_precision"])),
        ("image-level recall", _fmt(result["image_recall"])),
        ("images", str(result["n_images"])),
        ("images scored at image level", str(img["n_images"])),
        ("ground-truth boxes", str(result["n_gt_boxes"])),
        ("detections", str(result["n_predictions"])),
    ]
    out = [f"# {title}", ""] + [f"- {n}" for n in _notes(result)] + ["", "| metric | value |", "|---|---:|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    out += ["", "## Per-brand AP@0.5", "", "| brand | GT boxes | detections | AP@0.5 |",
            "|---|---:|---:|---:|"]
    out += [f"| {b} | {result['per_class_n_gt'][b]} | {result['per_class_n_pred'][b]} | {_fmt(ap)} |"
            for b, ap in result["per_class_ap"].items()]
    out += ["", "Image-level metrics follow the FlickrLogos-32 SDK: an image's label is the brand of its "
            "highest-scoring detection with a brand (`no-logo` if none); precision = correct logo "
            "predictions / images predicted as a logo, recall = correct logo predictions / logo images, "
            "accuracy = correct labels (no-logo included) / images.", "",
            "![precision-recall curves](pr_curves.png)", "", "![per-brand AP](per_class_ap.png)", ""]
    return "\n".join(out)


def write_report(result: dict[str, Any], out_dir: str | Path, title: str = "evaluation") -> Path:
    """Write ``report.md``, ``pr_curves.png``, ``per_class_ap.png`` and ``metrics.json`` into ``out_dir``.

    Returns:
        The path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_pr_curves(result, out_dir / "pr_curves.png")
    plot_per_class_ap(result, out_dir / "per_class_ap.png")
    write_json(result, out_dir / "metrics.json")
    md = out_dir / "report.md"
    md.write_text(format_markdown(result, title))
    return md
