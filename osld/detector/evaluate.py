"""``osld evaluate detector``: class-agnostic recall, AP50, AP50-95 and proposals per image on a YOLO set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osld.calibration import NamingDefaults
from osld.data.images import load_image
from osld.data.yolo import cxcywh_to_xyxy, label_path_for, read_yolo_labels
from osld.detector import Detector
from osld.detector.misses import MISS_CAUSES, MissExample, found_boxes
from osld.eval.metrics import average_precision, match_detections, pr_curve

# once the registry rejects non-logos, the detector may hand it this many proposals per image (issue 11's target)
TOP_K_PROPOSALS = 5

# the thresholds of the operating curve (recall against proposals per image): log-spaced, as most of the change
# happens below 0.1; the detector runs at 0.01 in evaluation, so lower ones would read the same
CURVE_CONFS = tuple(float(c) for c in np.geomspace(0.01, 0.9, 40))

# logo size as sqrt(box area / image area): the buckets the detector issue reports recall by
SIZE_BUCKETS = ((0.0, 0.05, "<5%"), (0.05, 0.10, "5-10%"), (0.10, 0.20, "10-20%"), (0.20, 0.40, "20-40%"),
                (0.40, 1.01, ">40%"))


def recall_by_size(preds: list, gts: list[np.ndarray], sizes: list[tuple[int, int]]) -> dict[str, dict]:
    """Recall@0.5 per logo-size bucket (sqrt of box area over image area)."""
    hits, rel = [], []
    for p, g, (w, h) in zip(preds, gts, sizes, strict=True):
        hits.append(found_boxes(p.xyxy, p.score, g))
        rel.append(np.sqrt(np.clip((g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]), 0, None) / (w * h)))
    hit, size = (np.concatenate(hits), np.concatenate(rel)) if hits else (np.zeros(0, bool), np.zeros(0))
    out = {}
    for lo, hi, name in SIZE_BUCKETS:
        sel = (size >= lo) & (size < hi)
        out[name] = {"n": int(sel.sum()), "recall": float(hit[sel].mean()) if sel.any() else float("nan")}
    return out


def _recall(preds: list, gts: list[np.ndarray]) -> float:
    found = sum(int(match_detections(p.xyxy, p.score, g, 0.5).sum()) for p, g in zip(preds, gts, strict=True))
    return found / max(sum(len(g) for g in gts), 1)


def operating_curve(preds: list, gts: list[np.ndarray], confs: tuple[float, ...] = CURVE_CONFS
                    ) -> dict[str, list[float]]:
    """Recall@0.5 and proposals per image at each threshold of ``confs`` (``preds`` detected at or below the
    lowest): how much recall each extra proposal per image buys."""
    # matched once at the lowest threshold: the matching is greedy by score, so a box's match never depends on the
    # boxes below it, and the true positives above any threshold are those of the full ranking
    tp = np.concatenate([match_detections(p.xyxy, p.score, g, 0.5) for p, g in zip(preds, gts, strict=True)]
                        + [np.zeros(0, bool)])
    score = np.concatenate([p.score for p in preds] + [np.zeros(0, np.float32)])
    n_gt = max(sum(len(g) for g in gts), 1)
    return {"conf": list(confs),
            "recall": [int(tp[score >= c].sum()) / n_gt for c in confs],
            "proposals_per_image": [int((score >= c).sum()) / len(preds) if preds else 0.0 for c in confs]}


def recall_within(curve: dict[str, list[float]], proposals: float = TOP_K_PROPOSALS) -> tuple[float, float]:
    """(recall, threshold) at the lowest threshold of ``curve`` whose proposals per image stay within
    ``proposals``: the number issue 11's target reads "at <= 5 proposals per image". (nan, nan) if none does."""
    within = [(r, c) for r, c, n in zip(curve["recall"], curve["conf"], curve["proposals_per_image"], strict=True)
              if n <= proposals]
    return max(within, key=lambda rc: (rc[0], -rc[1])) if within else (float("nan"), float("nan"))


def evaluate_detector(detector: Detector, images: list[Path], conf: float, batch_size: int = 8,
                      progress: bool = True, proposal_conf: float = NamingDefaults.proposal_conf,
                      misses: list[MissExample] | None = None) -> dict:
    """Class-agnostic metrics of ``detector`` on YOLO-labelled ``images`` (labels beside them in ``labels/``).

    ``detector`` should run at a low confidence threshold: AP50 and AP50-95 (VOC all-point AP, averaged over IoU
    0.50:0.05:0.95) rank all its detections, so the PR curve reaches high recall; ``recall@0.5`` and
    ``proposals_per_image`` keep only detections scoring >= ``conf``; ``recall@0.5_top5`` keeps the five
    best-scoring detections of each image instead (the operating point once the matcher rejects non-logos);
    ``recall@0.5_proposals`` keeps every detection scoring >= ``proposal_conf`` (the pipeline's proposal threshold,
    ``naming.json``): the boxes osld's matcher can still name, the ceiling of its naming recall; ``curve`` is
    the ``operating_curve`` and ``recall@0.5_within5`` its recall at <= 5 proposals per image (``recall_within``).
    Greedy NMS only lets a box be suppressed by a higher-scoring one, so that subset is exactly what the
    detector returns when run at ``conf``. ``misses`` counts the missed boxes by cause (``osld.detector.misses``);
    pass a list as ``misses`` to also receive each image with a missed box (for ``miss_sheet``).
    """
    from tqdm import tqdm

    gts, preds_low, sizes = [], [], []
    for start in tqdm(range(0, len(images), batch_size), desc="evaluate detector", disable=not progress):
        chunk = images[start: start + batch_size]
        pixels = []
        for p in chunk:
            img = load_image(p)
            pixels.append(img.pixels)
            sizes.append((img.pixels.shape[1], img.pixels.shape[0]))
            _, boxes = read_yolo_labels(label_path_for(p))
            gts.append(cxcywh_to_xyxy(boxes, img.pixels.shape[1], img.pixels.shape[0]))
        preds_low.extend(detector.detect(pixels))
    preds = [p[p.score >= conf] for p in preds_low]
    examples = [MissExample.of(p, g, d, conf) for p, g, d in zip(images, gts, preds_low, strict=True)]
    if misses is not None:
        misses.extend(ex for ex in examples if ex.causes)
    preds_top = [p[np.argsort(-p.score, kind="stable")[:TOP_K_PROPOSALS]] for p in preds_low]
    n_gt = sum(len(g) for g in gts)
    curve = operating_curve(preds_low, gts)
    within, within_conf = recall_within(curve)
    aps = []
    for thr in np.arange(0.5, 0.96, 0.05):
        tps, scores = [], []
        for p, g in zip(preds_low, gts, strict=True):
            tps.append(match_detections(p.xyxy, p.score, g, float(thr)))
            scores.append(p.score)
        rec, prec = pr_curve(np.concatenate(scores) if scores else np.zeros(0),
                             np.concatenate(tps) if tps else np.zeros(0, bool), n_gt)
        aps.append(average_precision(rec, prec))
    return {
        "n_images": len(images),
        "n_boxes": n_gt,
        "recall@0.5": _recall(preds, gts),
        "ap50": aps[0],
        "ap50_95": float(np.mean(aps)),
        "proposals_per_image": float(np.mean([len(p) for p in preds])) if preds else 0.0,
        "recall_by_size": recall_by_size(preds, gts, sizes),
        f"recall@0.5_top{TOP_K_PROPOSALS}": _recall(preds_top, gts),
        "recall@0.5_proposals": _recall([p[p.score >= proposal_conf] for p in preds_low], gts),
        "proposal_conf": proposal_conf,
        "proposals_per_image_at_proposal_conf":
            float(np.mean([int((p.score >= proposal_conf).sum()) for p in preds_low])) if preds_low else 0.0,
        f"recall_by_size_top{TOP_K_PROPOSALS}": recall_by_size(preds_top, gts, sizes),
        "misses": {c: sum(ex.causes.count(c) for ex in examples) for c in MISS_CAUSES},
        "conf": conf,
        "curve": curve,
        f"recall@0.5_within{TOP_K_PROPOSALS}": within,
        f"conf_within{TOP_K_PROPOSALS}": within_conf,
    }


def pool_results(results: list[dict]) -> dict:
    """Several sets' ``evaluate_detector`` results as one: recalls weighted by boxes (per size bucket by that
    bucket's boxes), proposals per image by images, the operating curves point by point (every set's is on
    ``CURVE_CONFS``). AP does not pool from per-set numbers, so it is left out."""
    n_boxes = sum(r["n_boxes"] for r in results)
    n_images = sum(r["n_images"] for r in results)

    def by_boxes(key: str) -> float:
        return sum(r[key] * r["n_boxes"] for r in results) / max(n_boxes, 1)

    def by_images(key: str) -> float:
        return sum(r[key] * r["n_images"] for r in results) / max(n_images, 1)

    def by_size(key: str) -> dict[str, dict]:
        out = {}
        for *_, name in SIZE_BUCKETS:
            parts = [(r[key][name]["recall"], r[key][name]["n"]) for r in results if r[key][name]["n"]]
            n = sum(k for _, k in parts)
            out[name] = {"n": n, "recall": sum(v * k for v, k in parts) / n if n else float("nan")}
        return out

    def pointwise(key: str, weight: str) -> list[float]:
        total = np.sum([np.multiply(r["curve"][key], r[weight]) for r in results], axis=0)
        return [float(v) for v in total / max(sum(r[weight] for r in results), 1)]

    top = f"recall@0.5_top{TOP_K_PROPOSALS}"
    curve = {"conf": results[0]["curve"]["conf"], "recall": pointwise("recall", "n_boxes"),
             "proposals_per_image": pointwise("proposals_per_image", "n_images")}
    within, within_conf = recall_within(curve)
    return {"n_images": n_images, "n_boxes": n_boxes, "recall@0.5": by_boxes("recall@0.5"),
            "ap50": float("nan"), "ap50_95": float("nan"), "proposals_per_image": by_images("proposals_per_image"),
            "recall_by_size": by_size("recall_by_size"), top: by_boxes(top),
            "recall@0.5_proposals": by_boxes("recall@0.5_proposals"),
            "proposals_per_image_at_proposal_conf": by_images("proposals_per_image_at_proposal_conf"),
            f"recall_by_size_top{TOP_K_PROPOSALS}": by_size(f"recall_by_size_top{TOP_K_PROPOSALS}"),
            "misses": {c: sum(r.get("misses", {}).get(c, 0) for r in results) for c in MISS_CAUSES},
            "curve": curve, f"recall@0.5_within{TOP_K_PROPOSALS}": within,
            f"conf_within{TOP_K_PROPOSALS}": within_conf}
