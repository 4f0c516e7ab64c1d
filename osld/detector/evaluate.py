"""``osld evaluate detector``: class-agnostic recall, AP50, AP50-95 and proposals per image on a YOLO set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osld.data.images import load_image
from osld.data.yolo import cxcywh_to_xyxy, label_path_for, read_yolo_labels
from osld.detector import Detector
from osld.eval.metrics import average_precision, match_detections, pr_curve


def evaluate_detector(detector: Detector, images: list[Path], conf: float, batch_size: int = 8,
                      progress: bool = True) -> dict:
    """Class-agnostic metrics of ``detector`` on YOLO-labelled ``images`` (labels beside them in ``labels/``).

    ``detector`` should run at a low confidence threshold: AP50 and AP50-95 (VOC all-point AP, averaged over IoU
    0.50:0.05:0.95) rank all its detections, so the PR curve reaches high recall; ``recall@0.5`` and
    ``proposals_per_image`` keep only detections scoring >= ``conf``. Greedy NMS only lets a box be suppressed
    by a higher-scoring one, so that subset is exactly what the detector returns when run at ``conf``.
    """
    from tqdm import tqdm

    gts, preds_low = [], []
    for start in tqdm(range(0, len(images), batch_size), desc="evaluate detector", disable=not progress):
        chunk = images[start: start + batch_size]
        pixels = []
        for p in chunk:
            img = load_image(p)
            pixels.append(img.pixels)
            _, boxes = read_yolo_labels(label_path_for(p))
            gts.append(cxcywh_to_xyxy(boxes, img.pixels.shape[1], img.pixels.shape[0]))
        preds_low.extend(detector.detect(pixels))
    preds = [p[p.score >= conf] for p in preds_low]
    n_gt = sum(len(g) for g in gts)
    found = sum(int(match_detections(p.xyxy, p.score, g, 0.5).sum())
                for p, g in zip(preds, gts, strict=True))
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
        "recall@0.5": found / max(n_gt, 1),
        "ap50": aps[0],
        "ap50_95": float(np.mean(aps)),
        "proposals_per_image": float(np.mean([len(p) for p in preds])) if preds else 0.0,
        "conf": conf,
    }
