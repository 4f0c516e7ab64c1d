"""Pairwise geometry of ``x1, y1, x2, y2`` boxes, shared by evaluation, tracking and naming decisions."""

from __future__ import annotations

import numpy as np


def box_area(xyxy: np.ndarray) -> np.ndarray:
    """float64 (n,) areas of (n, 4) boxes; 0 for a box with no extent."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    return np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None).prod(axis=1)


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64 (n, m) overlap areas of (n, 4) boxes ``a`` and (m, 4) boxes ``b``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.clip(rb - lt, 0, None).prod(axis=2)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``xyxy`` boxes.

    Args:
        a: (n, 4) boxes.
        b: (m, 4) boxes.

    Returns:
        float64 (n, m); 0 where a box has no area.
    """
    inter = box_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def empty_boxes() -> np.ndarray:
    """float32 (0, 4): no boxes, in the layout every box array here has."""
    return np.zeros((0, 4), np.float32)
