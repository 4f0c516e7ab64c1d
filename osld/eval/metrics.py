"""Detection and recognition metrics: VOC all-point AP, class-agnostic recall, FlickrLogos-32 image scores.

Own small implementation because torchmetrics/pycocotools are not dependencies and COCO's 101-point AP
differs from the VOC all-point AP that FlickrLogos results are reported in.

Matching follows the PASCAL VOC devkit: per brand, detections are taken by descending ``confidence`` (stable, so ties
keep image then box order); a detection is a true positive when its best-IoU ground-truth box of that brand
in the same image has IoU >= ``iou_thr`` and is not taken yet, otherwise a false positive; each ground-truth
box is matched at most once. Brands compare case-insensitively on letters and digits only ("HP" == "hp",
"coca-cola" == "cocacola"); a predicted ``"unknown"`` (or None) brand is no brand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from osld.boxes import box_iou
from osld.eval.datasets import NO_LOGO
from osld.types import UNKNOWN, Detections

if TYPE_CHECKING:
    from osld.eval.datasets import Sample

AP_METHOD = "VOC all-point interpolated AP (area under the monotone precision envelope), IoU >= 0.5"
_NO_LOGO_KEYS = frozenset({"nologo", "none"})


def normalize_brand(name: Any) -> str | None:
    """Matching key of a brand: lower case, letters and digits only; None for ``"unknown"``, None or empty."""
    if name is None:
        return None
    key = "".join(ch for ch in str(name).lower() if ch.isalnum())
    return None if not key or key == UNKNOWN else key


def average_precision(recalls: np.ndarray, precisions: np.ndarray) -> float:
    """VOC all-point interpolated AP: area under the monotone (right-to-left max) precision envelope.

    Args:
        recalls: (k,) non-decreasing recall after each ranked detection.
        precisions: (k,) precision after each ranked detection.

    Returns:
        AP in [0, 1]; 0 for no detections.
    """
    rec = np.concatenate(([0.0], np.asarray(recalls, np.float64), [1.0]))
    prec = np.concatenate(([0.0], np.asarray(precisions, np.float64), [0.0]))
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    steps = np.nonzero(rec[1:] != rec[:-1])[0]
    return float(np.sum((rec[steps + 1] - rec[steps]) * prec[steps + 1]))


def match_detections(pred_xyxy: np.ndarray, pred_score: np.ndarray, gt_xyxy: np.ndarray,
                     iou_thr: float = 0.5) -> np.ndarray:
    """True positives of one image's detections against its ground truth (VOC rule, see module docstring).

    Args:
        pred_xyxy: (n, 4) detections.
        pred_score: (n,) their scores; higher is matched first.
        gt_xyxy: (m, 4) ground-truth boxes.
        iou_thr: minimum IoU for a match.

    Returns:
        bool (n,) in the input order.
    """
    n = len(pred_xyxy)
    tp = np.zeros(n, bool)
    if n == 0 or len(gt_xyxy) == 0:
        return tp
    iou = box_iou(pred_xyxy, gt_xyxy)
    taken = np.zeros(len(gt_xyxy), bool)
    for i in np.argsort(-np.asarray(pred_score, np.float64), kind="stable"):
        j = int(np.argmax(iou[i]))
        if iou[i, j] >= iou_thr and not taken[j]:
            taken[j] = tp[i] = True
    return tp


def pr_curve(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision after each detection, ranked by descending score (stable).

    Returns:
        (recall, precision), float64 (k,) each.
    """
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    tp = np.asarray(tp, bool)[order]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(~tp)
    recall = ctp / max(n_gt, 1)
    precision = ctp / np.maximum(ctp + cfp, 1)
    return recall.astype(np.float64), precision.astype(np.float64)


def _as_detections(pred: Detections | None) -> Detections:
    return Detections.empty() if pred is None else pred


def evaluate_detections(samples: Sequence[Sample], predictions: Sequence[Detections | None],
                        iou_thr: float = 0.5) -> dict[str, Any]:
    """Per-brand AP, mAP, class-agnostic recall/AP and PR curves.

    Brands are those with at least one ground-truth box; predictions for other brands affect no AP but do
    count in the class-agnostic numbers. Samples with ``has_box_labels=False`` are skipped.

    Args:
        samples: ground truth, one per image.
        predictions: detections of the same images in the same order (None = unreadable, no detections).
        iou_thr: IoU for a match.

    Returns:
        ``map`` (None without ground truth), ``per_class_ap``/``per_class_n_gt``/``per_class_n_pred``
        (brand -> value, brands spelled as in the ground truth, sorted case-insensitively), ``pr_curves``
        (brand -> {"recall", "precision"} arrays), ``detection_recall`` (class-agnostic: share of
        ground-truth boxes matched by any detection, brand ignored), ``agnostic_ap``, ``agnostic_pr``,
        ``n_gt``, ``n_pred``, ``n_images``, ``iou_thr``.

    Raises:
        ValueError: ``samples`` and ``predictions`` differ in length.
    """
    if len(samples) != len(predictions):
        raise ValueError(f"{len(samples)} samples but {len(predictions)} predictions")
    pairs = [(s, _as_detections(p)) for s, p in zip(samples, predictions, strict=True) if s.has_box_labels]
    display: dict[str, str] = {}
    for s, _ in pairs:
        for b in s.brands:
            key = normalize_brand(b)
            if key is not None:
                display.setdefault(key, b)
    scores: dict[str, list[np.ndarray]] = {k: [] for k in display}
    tps: dict[str, list[np.ndarray]] = {k: [] for k in display}
    n_gt = dict.fromkeys(display, 0)
    ag_scores, ag_tps = [], []
    n_gt_total = n_pred_total = 0
    for s, d in pairs:
        gt_keys = np.array([normalize_brand(b) for b in s.brands], dtype=object)
        pred_keys = np.array([normalize_brand(b) for b in d.brand], dtype=object)
        ag_scores.append(d.confidence)
        ag_tps.append(match_detections(d.xyxy, d.confidence, s.boxes, iou_thr))
        n_gt_total += len(s.boxes)
        n_pred_total += len(d)
        for key in (set(gt_keys.tolist()) | set(pred_keys.tolist())) & display.keys():
            gm, pm = gt_keys == key, pred_keys == key
            n_gt[key] += int(gm.sum())
            scores[key].append(d.confidence[pm])
            tps[key].append(match_detections(d.xyxy[pm], d.confidence[pm], s.boxes[gm], iou_thr))
    per_class_ap, per_class_n_gt, per_class_n_pred, curves = {}, {}, {}, {}
    for key in sorted(display, key=lambda k: (display[k].lower(), k)):
        sc = np.concatenate(scores[key]) if scores[key] else np.zeros(0)
        tp = np.concatenate(tps[key]) if tps[key] else np.zeros(0, bool)
        recall, precision = pr_curve(sc, tp, n_gt[key])
        name = display[key]
        per_class_ap[name] = average_precision(recall, precision)
        per_class_n_gt[name] = n_gt[key]
        per_class_n_pred[name] = len(sc)
        curves[name] = {"recall": recall, "precision": precision}
    ag_sc = np.concatenate(ag_scores) if ag_scores else np.zeros(0)
    ag_tp = np.concatenate(ag_tps) if ag_tps else np.zeros(0, bool)
    ag_recall, ag_precision = pr_curve(ag_sc, ag_tp, n_gt_total)
    return {
        "iou_thr": iou_thr,
        "map": float(np.mean(list(per_class_ap.values()))) if per_class_ap else None,
        "per_class_ap": per_class_ap,
        "per_class_n_gt": per_class_n_gt,
        "per_class_n_pred": per_class_n_pred,
        "pr_curves": curves,
        "detection_recall": float(ag_tp.sum() / n_gt_total) if n_gt_total else None,
        "agnostic_ap": average_precision(ag_recall, ag_precision) if n_gt_total else None,
        "agnostic_pr": {"recall": ag_recall, "precision": ag_precision},
        "n_gt": n_gt_total,
        "n_pred": n_pred_total,
        "n_images": len(pairs),
    }


def predicted_image_label(det: Detections | None) -> str:
    """FlickrLogos SDK image label: brand of the most confident detection with a brand, else ``no-logo``."""
    det = _as_detections(det)
    known = [i for i, b in enumerate(det.brand) if normalize_brand(b) is not None]
    if not known:
        return NO_LOGO
    return str(det.brand[max(known, key=lambda i: float(det.confidence[i]))])


def _label_key(label: str) -> str:
    key = normalize_brand(label)
    return "nologo" if key is None or key in _NO_LOGO_KEYS else key


def image_level_metrics(samples: Sequence[Sample],
                        predictions: Sequence[Detections | None]) -> dict[str, Any]:
    """The official FlickrLogos-32 SDK image-level scores over samples that have an ``image_label``.

    Each image's predicted label is ``predicted_image_label``. precision = correct logo predictions / images
    predicted as some logo; recall = correct logo predictions / logo images; accuracy = correct predictions
    (a correct ``no-logo`` included) / all images.

    Returns:
        ``accuracy``, ``precision``, ``recall`` (None when undefined), and the counts ``n_images``,
        ``n_logo_images``, ``n_no_logo_images``, ``n_predicted_logo``, ``n_correct_logo``,
        ``n_correct_no_logo``.
    """
    if len(samples) != len(predictions):
        raise ValueError(f"{len(samples)} samples but {len(predictions)} predictions")
    n = n_logo = n_pred_logo = correct_logo = correct_none = 0
    for s, d in zip(samples, predictions, strict=True):
        if s.image_label is None:
            continue
        gt, pred = _label_key(s.image_label), _label_key(predicted_image_label(d))
        n += 1
        n_logo += gt != "nologo"
        n_pred_logo += pred != "nologo"
        correct_logo += gt == pred != "nologo"
        correct_none += gt == pred == "nologo"

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        "accuracy": ratio(correct_logo + correct_none, n),
        "precision": ratio(correct_logo, n_pred_logo),
        "recall": ratio(correct_logo, n_logo),
        "n_images": n,
        "n_logo_images": n_logo,
        "n_no_logo_images": n - n_logo,
        "n_predicted_logo": n_pred_logo,
        "n_correct_logo": correct_logo,
        "n_correct_no_logo": correct_none,
    }


def evaluate(samples: Sequence[Sample], predictions: Sequence[Detections | None]) -> dict[str, Any]:
    """Everything the ``osld evaluate`` reports: detection metrics at IoU 0.5 plus image-level metrics.

    Returns:
        The JSON keys ``map50``, ``per_class_ap``, ``detection_recall``, ``image_accuracy``,
        ``image_precision``, ``image_recall``, ``n_images`` and more (``agnostic_ap50``, counts,
        ``ap_method``), plus the array entries ``pr_curves`` and ``agnostic_pr`` that
        ``report.write_json`` leaves out.
    """
    det = evaluate_detections(samples, predictions, iou_thr=0.5)
    img = image_level_metrics(samples, predictions)
    box_samples = [s for s in samples if s.has_box_labels]
    return {
        "ap_method": AP_METHOD,
        "map50": det["map"],
        "per_class_ap": det["per_class_ap"],
        "per_class_n_gt": det["per_class_n_gt"],
        "per_class_n_pred": det["per_class_n_pred"],
        "detection_recall": det["detection_recall"],
        "agnostic_ap50": det["agnostic_ap"],
        "image_accuracy": img["accuracy"],
        "image_precision": img["precision"],
        "image_recall": img["recall"],
        "n_images": len({s.path for s in samples}),
        "n_box_images": len(box_samples),
        "n_box_images_without_logo": sum(len(s.boxes) == 0 for s in box_samples),
        "n_gt_boxes": det["n_gt"],
        "n_predictions": det["n_pred"],
        "n_unreadable": sum(p is None for p in predictions),
        "image_level": img,
        "pr_curves": det["pr_curves"],
        "agnostic_pr": det["agnostic_pr"],
    }


def operating_point(samples: Sequence[Sample], predictions: Sequence[Detections | None],
                    iou_thr: float = 0.5) -> dict[str, Any]:
    """Precision and recall of the brand-named detections as reported (after the operating thresholds).

    A named detection is correct when it matches (IoU >= ``iou_thr``, each ground-truth box once) a
    ground-truth box of the same brand. Returns ``precision``, ``recall`` (None when undefined), ``n_named``,
    ``n_correct``, ``n_gt``.
    """
    n_named = n_correct = n_gt = 0
    for s, p in zip(samples, predictions, strict=True):
        if not s.has_box_labels:
            continue
        d = _as_detections(p)
        gt_keys = [normalize_brand(b) for b in s.brands]
        pred_keys = [normalize_brand(b) for b in d.brand]
        n_gt += sum(k is not None for k in gt_keys)
        n_named += sum(k is not None for k in pred_keys)
        for key in {k for k in pred_keys if k is not None}:
            pm = np.array([k == key for k in pred_keys], bool)
            gm = np.array([k == key for k in gt_keys], bool)
            n_correct += int(match_detections(d.xyxy[pm], d.confidence[pm], s.boxes[gm], iou_thr).sum())
    return {"precision": n_correct / n_named if n_named else None, "recall": n_correct / n_gt if n_gt else None,
            "n_named": n_named, "n_correct": n_correct, "n_gt": n_gt}
