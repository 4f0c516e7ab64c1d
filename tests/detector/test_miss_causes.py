"""Why a real logo is missed: each missed box gets the first cause that applies."""

from __future__ import annotations

import numpy as np

from osld.detector.evaluate import pool_results
from osld.detector.misses import MISS_CAUSES, miss_causes
from osld.types import Detections

LOGO = np.array([[100, 100, 140, 140]], np.float32)  # 40 x 40


def _dets(*boxes_scores: tuple[list[float], float]) -> Detections:
    if not boxes_scores:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    return Detections(np.array([b for b, _ in boxes_scores], np.float32),
                      np.array([s for _, s in boxes_scores], np.float32))


def test_a_found_box_has_no_cause():
    assert miss_causes(_dets(([101, 99, 141, 140], 0.9)), LOGO, conf=0.05) == []


def test_the_whole_sign_boxed_around_the_logo():
    sign = ([80, 90, 300, 150], 0.8)  # covers the logo, 8x its area
    assert miss_causes(_dets(sign), LOGO, conf=0.05) == ["inside a larger box"]


def test_an_emblem_labelled_inside_a_labelled_sign():
    sign = np.array([[80, 90, 300, 150]], np.float32)  # labelled too, and found; the emblem inside is not
    gt = np.concatenate([sign, LOGO])
    assert miss_causes(_dets(([82, 90, 298, 152], 0.8)), gt, conf=0.05) == ["inside a found logo"]
    # the same box around an unlabelled region stays "inside a larger box"
    assert miss_causes(_dets(([82, 90, 298, 152], 0.8)), LOGO, conf=0.05) == ["inside a larger box"]


def test_only_the_icon_of_a_lockup_boxed():
    wide = np.array([[100, 100, 220, 140]], np.float32)  # icon + wordmark labelled as one logo
    icon = ([100, 100, 140, 140], 0.7)
    assert miss_causes(_dets(icon), wide, conf=0.05) == ["only a part boxed"]


def test_a_good_box_under_the_threshold_and_a_shifted_one():
    assert miss_causes(_dets(([100, 100, 140, 140], 0.03)), LOGO, conf=0.05) == ["below the threshold"]
    shifted = ([120, 120, 160, 160], 0.9)  # IoU 1/7 with the logo
    assert miss_causes(_dets(shifted), LOGO, conf=0.05) == ["poorly placed"]
    assert miss_causes(_dets(([400, 400, 450, 450], 0.9)), LOGO, conf=0.05) == ["not seen"]
    assert miss_causes(_dets(), LOGO, conf=0.05) == ["not seen"]


def test_two_logos_side_by_side_share_one_box():
    pair = np.array([[100, 100, 140, 140], [104, 100, 144, 140]], np.float32)
    causes = miss_causes(_dets(([102, 100, 142, 140], 0.9)), pair, conf=0.05)
    assert causes == ["neighbour took its box"]


def test_pooled_causes_add_up():
    a = {"n_images": 1, "n_boxes": 2, "misses": dict.fromkeys(MISS_CAUSES, 1)}
    b = {"n_images": 1, "n_boxes": 2, "misses": {**dict.fromkeys(MISS_CAUSES, 0), "not seen": 3}}
    for r in (a, b):  # the other keys pool_results reads
        r.update({"recall@0.5": 0.5, "proposals_per_image": 1.0, "recall@0.5_top5": 0.5,
                  "recall@0.5_proposals": 0.5, "proposals_per_image_at_proposal_conf": 1.0,
                  "recall_by_size": {}, "recall_by_size_top5": {},
                  "curve": {"conf": [0.05], "recall": [0.5], "proposals_per_image": [1.0]}})
    sizes = {name: {"n": 0, "recall": float("nan")} for name in ("<5%", "5-10%", "10-20%", "20-40%", ">40%")}
    for r in (a, b):
        r["recall_by_size"] = r["recall_by_size_top5"] = sizes
    pooled = pool_results([a, b])
    assert pooled["misses"]["not seen"] == 4 and pooled["misses"]["inside a larger box"] == 1
