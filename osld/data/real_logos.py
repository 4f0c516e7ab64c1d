"""Real logo boxes cut out of the train part of real YOLO folders, as RGBA patches for ``osld synth`` to paste.

Copy-paste augmentation (Ghiasi et al. 2021; Kisantal et al. 2019 for small objects): a real box pasted into
another photo at another size is a real-looking logo in a new context, at the small sizes the real sets have
few of. Only the train part (``yologo_split``, the split ``osld train detector`` uses) is read: the validation
part stays unseen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from osld.data.images import load_image
from osld.data.yolo import REAL_VAL_FRACTION, cxcywh_to_xyxy, label_path_for, read_yolo_labels, yologo_split


@dataclass(frozen=True)
class RealLogo:
    """One labelled box of a real photo: ``box`` is normalized ``cx, cy, w, h``."""

    image: Path
    box: tuple[float, float, float, float]


def real_logo_boxes(real_dirs: Sequence[str | Path], val_fraction: float = REAL_VAL_FRACTION) -> list[RealLogo]:
    """Every box of the train part of each real YOLO folder (``images/`` + ``labels/``)."""
    out = []
    for root in real_dirs:
        train, _ = yologo_split(root, val_fraction)
        for image in train:
            _, boxes = read_yolo_labels(label_path_for(image))
            out += [RealLogo(image, tuple(float(v) for v in b)) for b in boxes]
    return out


def cut_real_logo(logo: RealLogo, feather: float = 0.08) -> np.ndarray | None:
    """The box as an RGBA patch with a soft edge: ``feather`` of its shorter side of the photo around the box is
    kept and faded out, and alpha crosses 0.5 on the box edge, so the pasted patch's alpha > 0.5 is the box.

    Returns None for a box under 8 px or outside its image.
    """
    pixels = load_image(logo.image).pixels
    h, w = pixels.shape[:2]
    x1, y1, x2, y2 = np.round(cxcywh_to_xyxy(np.array([logo.box]), w, h)[0]).astype(int)
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if min(x2 - x1, y2 - y1) < 8:
        return None
    m = max(2, int(round(feather * min(x2 - x1, y2 - y1))))
    # context beyond the photo's border is mirrored, so every patch has the same soft edge on all sides
    padded = cv2.copyMakeBorder(pixels, m, m, m, m, cv2.BORDER_REFLECT_101)
    patch = padded[y1: y2 + 2 * m, x1: x2 + 2 * m]
    ph, pw = patch.shape[:2]
    inset = np.minimum.outer(np.minimum(np.arange(ph), ph - 1 - np.arange(ph)),
                             np.minimum(np.arange(pw), pw - 1 - np.arange(pw))).astype(np.float32)
    alpha = np.clip(0.5 + (inset + 0.5 - m) / m, 0.0, 1.0)  # 0 at half the margin out, 0.5 on the box edge, 1 in
    return np.dstack([patch, np.round(alpha * 255).astype(np.uint8)])
