"""Annotated-image labels: brand with its calibrated confidence, never a bare similarity read as one."""

import numpy as np

from osld.types import Detections
from osld.vis import annotate, box_label


def _dets(confidence=None) -> Detections:
    return Detections(xyxy=np.array([[10, 10, 60, 40], [70, 20, 120, 60]], np.float32),
                      score=np.array([0.9, 0.4], np.float32), brand=np.array(["acme", "unknown"], object),
                      sim=np.array([0.62, 0.41], np.float32), confidence=confidence)


def test_labels_show_the_confidence_and_leave_unknown_bare():
    dets = _dets(np.array([0.874, 0.4], np.float32))
    assert [box_label(dets, i) for i in range(2)] == ["acme 87%", "unknown"]
    assert box_label(_dets(), 0) == "acme 90%"  # no calibration ran: the detector score is the confidence


def test_annotate_draws_without_changing_the_input():
    image = np.full((100, 140, 3), 255, np.uint8)
    out = annotate(image, _dets(np.array([0.874, 0.4], np.float32)))
    assert (image == 255).all() and out.shape == image.shape and (out != 255).any()
