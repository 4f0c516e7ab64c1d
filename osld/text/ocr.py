"""Reading the words inside a detected region with PP-OCRv4 (``rapidocr-onnxruntime``, the ``[text]`` extra).

The wheel ships the detection and recognition ONNX models, so nothing is downloaded. Only the crops of detected
regions are read (never the whole photo): the text detector finds the lines inside the crop (a logo is often an
emblem beside or above its word, or two lines), then the recognizer reads each line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from osld.errors import ConfigError

log = logging.getLogger("osld")


@dataclass(frozen=True)
class Line:
    """One line of text read in a region: ``text`` as read, the recognizer's mean character ``score``, and
    ``how`` it was found (``crop``: the whole crop read as one line; ``det``: a line the text detector found)."""

    text: str
    score: float
    how: str = "crop"


def join_lines(lines: list[Line]) -> str:
    """The lines read in one region as results files record them (``text``): joined by ``" | "``, ``""`` when none."""
    return " | ".join(line.text for line in lines)


class TextReader:
    """PP-OCRv4 text detection + recognition on region crops.

    Args:
        det_side: crops are resized so that their longer side is this many pixels before text detection (small
            logos are upscaled so their letters are large enough to be found; large ones are shrunk to bound cost).
        min_score: lines whose recognition score is below this are dropped.
        threads: onnxruntime intra-op threads (None: onnxruntime's default, all cores). 1 by default: crops are
            small, and on a loaded 2-core machine one thread read 5 crops in 3.0 s against 11.3 s for the default.
        mode: ``rec`` reads each whole crop as one line (cheap; misses two-line and emblem+word logos); ``det``
            finds lines first (misses very thin crops, whose letters shrink below the text detector's reach);
            ``auto`` (measured best, see README) reads the whole crop and, when it is not a wide strip (width <
            ``wide`` x height), also the lines the text detector finds.
        wide: width/height ratio from which ``auto`` takes a crop for a single line.
    """

    def __init__(self, det_side: int = 320, min_score: float = 0.5, threads: int | None = 1,
                 mode: str = "auto", wide: float = 3.0):
        if mode not in ("auto", "rec", "det"):
            raise ConfigError(f"text mode must be auto, rec or det, got {mode!r}")
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as e:  # the optional extra is missing
            raise ConfigError("reading text needs the [text] extra: pip install 'osld[text]'") from e
        kwargs = {"det_limit_type": "max", "det_limit_side_len": det_side, "text_score": min_score,
                  "print_verbose": False}
        if threads:
            kwargs.update(intra_op_num_threads=threads, inter_op_num_threads=1)
        # rapidocr logs every call at INFO level through its own logger; keep osld's output quiet
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        self._engine = RapidOCR(**kwargs)
        self.det_side = det_side
        self.min_score = min_score
        self.mode = mode
        self.wide = wide

    def _resize(self, crop: np.ndarray) -> np.ndarray:
        h, w = crop.shape[:2]
        scale = self.det_side / max(h, w)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        return cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)

    def read(self, crops: list[np.ndarray]) -> list[list[Line]]:
        """RGB uint8 crops -> the lines read in each (possibly none)."""
        bgr = [np.ascontiguousarray(c[..., :3][..., ::-1]) for c in crops]  # PP-OCR models take OpenCV's BGR
        out: list[list[Line]] = [[] for _ in bgr]
        ok = [i for i, c in enumerate(bgr) if min(c.shape[:2]) >= 4]
        if self.mode in ("auto", "rec") and ok:
            res, _ = self._engine.text_rec([bgr[i] for i in ok])
            for i, (t, s) in zip(ok, res, strict=True):
                if t.strip() and s >= self.min_score:
                    out[i].append(Line(str(t), float(s), "crop"))
        for i in ok:
            h, w = bgr[i].shape[:2]
            if self.mode == "rec" or (self.mode == "auto" and w >= self.wide * h):
                continue
            res, _ = self._engine(self._resize(bgr[i]), use_det=True, use_cls=False, use_rec=True)
            seen = {ln.text for ln in out[i]}  # the whole-crop read and a found line are often the same words
            out[i].extend(Line(str(t), float(s), "det") for _, t, s in (res or [])
                          if t.strip() and float(s) >= self.min_score and t not in seen)
        return out
