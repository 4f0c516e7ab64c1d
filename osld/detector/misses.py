"""Why a labelled logo is missed, and a picture of the misses (``osld evaluate detector --misses``).

On real photos many misses are not logos the detector never saw: it boxed the whole sign or label the logo sits
on, or only the icon of an icon-and-wordmark lockup the labels box as one, or its box scored under the threshold.
Some sets also label a logo inside another labelled logo (an emblem on a sign that is itself labelled, 13 % of
yologo's boxes): when the outer one is found and the inner one not, the miss is ``inside a found logo``, apart
from a box drawn around an unlabelled region (``inside a larger box``).
Each missed box gets the first cause of ``MISS_CAUSES`` that applies, so the counts add up to the misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from osld.boxes import box_area, box_intersection, box_iou
from osld.types import Detections

MISS_CAUSES = ("neighbour took its box", "inside a found logo", "inside a larger box", "only a part boxed",
               "poorly placed", "below the threshold", "not seen")

# colours (RGB) of the misses picture
_FOUND, _MISSED, _PROPOSAL = (40, 200, 40), (255, 150, 0), (220, 30, 30)


def found_boxes(pred_xyxy: np.ndarray, pred_score: np.ndarray, gt: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Which ground-truth boxes some prediction matches (greedy by score, one prediction per box)."""
    hit = np.zeros(len(gt), bool)
    if not len(gt) or not len(pred_xyxy):
        return hit
    ious = box_iou(pred_xyxy[np.argsort(-pred_score)], gt)
    for row in ious:
        row = np.where(hit, -1.0, row)
        j = int(row.argmax())
        if row[j] >= iou:
            hit[j] = True
    return hit


def miss_causes(pred: Detections, gt: np.ndarray, conf: float, iou: float = 0.5, cover: float = 0.8) -> list[str]:
    """The cause of each ground-truth box (xyxy) that ``pred``'s boxes scoring >= ``conf`` miss, in ``gt`` order.

    ``pred`` should hold the low-threshold detections (a box under ``conf`` can be ``below the threshold``).
    ``inside a larger box``: a box covers >= ``cover`` of the logo and has >= 2x its area (``inside a found logo``
    when that box is one that found another labelled logo); ``only a part boxed``:
    a box lies >= ``cover`` inside the logo with <= half its area; ``poorly placed``: IoU 0.1-``iou``.
    """
    keep = pred.score >= conf
    return _causes(pred, gt, found_boxes(pred.xyxy[keep], pred.score[keep], gt, iou), conf, iou, cover)


def _causes(pred: Detections, gt: np.ndarray, found: np.ndarray, conf: float, iou: float = 0.5,
            cover: float = 0.8) -> list[str]:
    """The cause of each box of ``gt`` that the boolean mask ``found`` marks as missed."""
    missed = gt[~found]
    hi = pred.xyxy[pred.score >= conf]
    iou_hi = box_iou(hi, missed)  # (boxes >= conf, missed logos)
    inter = box_intersection(hi, missed)
    logo_area = np.maximum(box_area(missed), 1e-9)[None, :]
    area = np.maximum(box_area(hi), 1e-9)[:, None]
    around = (inter / logo_area >= cover) & (area >= 2 * logo_area)
    on_found = (box_iou(hi, gt[found]) >= iou).any(axis=1, keepdims=True)  # boxes that found a labelled logo
    tests = (iou_hi >= iou,
             around & on_found,
             around,
             (inter / area >= cover) & (area <= 0.5 * logo_area),
             iou_hi >= 0.1,
             box_iou(pred.xyxy, missed) >= iou)
    return [next((cause for cause, test in zip(MISS_CAUSES[:-1], tests, strict=True) if test[:, j].any()),
                 MISS_CAUSES[-1]) for j in range(len(missed))]


@dataclass
class MissExample:
    """One evaluated image: its labelled boxes, its detections at the evaluation threshold, what was missed."""

    path: Path
    gt: np.ndarray
    proposals: np.ndarray
    found: np.ndarray
    causes: list[str]

    @classmethod
    def of(cls, path: Path, gt: np.ndarray, pred: Detections, conf: float) -> MissExample:
        keep = pred.score >= conf
        found = found_boxes(pred.xyxy[keep], pred.score[keep], gt)
        return cls(path, gt, pred.xyxy[keep], found, _causes(pred, gt, found, conf))


def _rect(image: np.ndarray, box: np.ndarray, colour: tuple[int, int, int], thick: int) -> tuple[int, int]:
    x1, y1, x2, y2 = box.round().astype(int)
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, thick)
    return x1, y1


def miss_sheet(examples: list[MissExample], tile: int = 360, cols: int = 4) -> np.ndarray:
    """RGB grid of ``examples`` (e.g. the images with most misses): proposals red, found logos green, missed
    logos orange with the number of their cause (legend on top)."""
    from osld.data.images import load_image

    legend = ["red: proposals, green: found, orange: missed (cause)"] + [
        "  ".join(f"{i + 1} {c}" for i, c in enumerate(MISS_CAUSES[k: k + 4], k)) for k in (0, 4)]
    head = 20 * len(legend) + 8
    rows = max(1, -(-len(examples) // cols))
    sheet = np.full((head + rows * (tile + 18), cols * tile, 3), 255, np.uint8)
    for i, line in enumerate(legend):
        cv2.putText(sheet, line, (6, 18 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for n, ex in enumerate(examples):
        image = load_image(ex.path).pixels
        scale = tile / max(image.shape[:2])
        small = np.ascontiguousarray(cv2.resize(image, (max(1, round(image.shape[1] * scale)),
                                                        max(1, round(image.shape[0] * scale)))))
        for box in ex.proposals:
            _rect(small, box * scale, _PROPOSAL, 1)
        missed = iter(ex.causes)
        for box, hit in zip(ex.gt, ex.found, strict=True):
            if hit:
                _rect(small, box * scale, _FOUND, 1)
            else:
                x1, y1 = _rect(small, box * scale, _MISSED, 2)
                cv2.putText(small, str(MISS_CAUSES.index(next(missed)) + 1), (x1 + 2, max(y1 - 3, 12)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.45, _MISSED, 1, cv2.LINE_AA)
        r, c = divmod(n, cols)
        y, x = head + r * (tile + 18), c * tile
        sheet[y: y + small.shape[0], x: x + small.shape[1]] = small
        caption = f"{ex.path.name}: {len(ex.causes)} of {len(ex.gt)} missed"
        cv2.putText(sheet, caption.encode("ascii", "replace").decode(), (x + 4, y + tile + 13),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet
