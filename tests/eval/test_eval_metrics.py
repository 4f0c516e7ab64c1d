"""VOC all-point AP, matching and image-level metrics against hand-computed cases."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from osld.eval import (
    Sample,
    average_precision,
    box_iou,
    evaluate,
    evaluate_detections,
    image_level_metrics,
    match_detections,
    normalize_brand,
    predicted_image_label,
)
from osld.types import Detections


def det(boxes, scores, brands) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                      brand=np.array(brands, dtype=object))


def sample(name, boxes, brands, label=None) -> Sample:
    return Sample(f"/img/{name}.jpg", np.array(boxes, np.float32).reshape(-1, 4), brands, image_label=label)


A = [0, 0, 10, 10]
B = [20, 20, 40, 40]
C = [50, 0, 70, 30]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 5, 15, 15], 25 / 175),  # inter 5*5, union 100 + 100 - 25
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 10, 10], [0, 0, 10, 5], 0.5),
        ([0, 0, 0, 10], [0, 0, 10, 10], 0.0),  # no area
    ],
)
def test_box_iou(a, b, expected):
    assert box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


def test_box_iou_shapes():
    assert box_iou(np.zeros((3, 4)), np.zeros((0, 4))).shape == (3, 0)
    assert box_iou(np.array([A, B]), np.array([A, B, C])).shape == (2, 3)


@pytest.mark.parametrize(
    ("recalls", "precisions", "expected"),
    [
        ([], [], 0.0),
        ([1.0], [1.0], 1.0),
        ([0.5], [1.0], 0.5),
        # envelope of [1, .5, 2/3] is [1, 2/3, 2/3]: 0.5 * 1 + 0.5 * 2/3
        ([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3], 0.5 + 0.5 * 2 / 3),
        # a dip is filled by the later higher precision: recall steps .25 each, envelope [1, .75, .75, .6]
        ([0.25, 0.5, 0.5, 0.75, 1.0], [1.0, 2 / 3, 0.5, 0.75, 0.6], 0.25 * (1 + 0.75 + 0.75 + 0.6)),
    ],
)
def test_average_precision_all_point(recalls, precisions, expected):
    assert average_precision(np.array(recalls), np.array(precisions)) == pytest.approx(expected)


def test_match_detections_voc_rule():
    gt = np.array([A, B], np.float32)
    # 0.9 hits A, 0.8 duplicates A (FP), 0.7 hits B, 0.6 misses everything.
    tp = match_detections(np.array([A, A, B, C]), np.array([0.9, 0.8, 0.7, 0.6]), gt)
    assert tp.tolist() == [True, False, True, False]
    # order comes from the scores, not the input order: the higher-scoring duplicate wins
    tp = match_detections(np.array([A, A]), np.array([0.2, 0.9]), gt[:1])
    assert tp.tolist() == [False, True]
    assert match_detections(np.zeros((0, 4)), np.zeros(0), gt).shape == (0,)


@pytest.mark.parametrize(
    ("name", "a", "b", "equal"),
    [
        ("case", "HP", "hp", True),
        ("punctuation", "coca-cola", "Coca Cola", True),
        ("brands", "HP", "hpx", False),
    ],
)
def test_normalize_brand(name, a, b, equal):
    assert (normalize_brand(a) == normalize_brand(b)) is equal, name


@pytest.mark.parametrize("value", ["unknown", "UNKNOWN", None, "", "--"])
def test_normalize_brand_no_brand(value):
    assert normalize_brand(value) is None


def test_known_miss_and_false_positive():
    samples = [sample("i0", [A], ["adidas"]), sample("i1", [B], ["adidas"]), sample("i2", [], [])]
    preds = [
        det([A], [0.9], ["Adidas"]),  # TP
        det([], [], []),  # the B logo is missed
        det([C], [0.8], ["adidas"]),  # FP on an image without logos
    ]
    # ranked: TP, FP -> recall [.5, .5], precision [1, .5]; envelope 1 up to recall .5 -> AP = 0.5 * 1 = 0.5
    res = evaluate_detections(samples, preds)
    assert res["per_class_ap"] == {"adidas": pytest.approx(0.5)}
    assert res["map"] == pytest.approx(0.5)
    assert res["detection_recall"] == pytest.approx(0.5)
    assert res["n_gt"] == 2 and res["n_pred"] == 2 and res["n_images"] == 3


def test_false_positive_ranked_first_and_wrong_brand():
    samples = [sample("i0", [A, B], ["HP", "coca-cola"])]
    preds = [det([C, A, B, A], [0.95, 0.9, 0.8, 0.7], ["hp", "HP", "unknown", "cocacola"])]
    # HP: ranked FP(C), TP(A) -> recall [0, 1], precision [0, .5]; envelope .5 -> AP = 1 * 0.5 = 0.5
    # coca-cola: the only "cocacola" box sits on A (IoU 0 with B) -> FP -> AP 0; B's detection is "unknown"
    res = evaluate_detections(samples, preds)
    assert res["per_class_ap"] == {"coca-cola": 0.0, "HP": pytest.approx(0.5)}
    assert res["map"] == pytest.approx(0.25)
    # class-agnostic, brand ignored: C FP, A TP, B TP, duplicate A FP -> both GT found
    assert res["detection_recall"] == 1.0
    # agnostic ranking FP, TP, TP, FP -> precision [0, .5, 2/3, .5], recall [0, .5, 1, 1]
    # envelope [2/3, 2/3, 2/3, .5] -> AP = .5 * 2/3 + .5 * 2/3 = 2/3
    assert res["agnostic_ap"] == pytest.approx(2 / 3)


def test_ties_across_images_keep_image_order():
    samples = [sample("i0", [A], ["x"]), sample("i1", [A], ["x"])]
    preds = [det([B], [0.5], ["x"]), det([A], [0.5], ["x"])]
    # equal scores: image order decides -> FP then TP -> precision [0, .5], recall [0, .5] -> AP .25
    assert evaluate_detections(samples, preds)["map"] == pytest.approx(0.25)


def test_predictions_for_unlisted_brands_and_unreadable_images():
    samples = [sample("i0", [A], ["adidas"]), sample("i1", [B], ["adidas"])]
    preds = [det([A, B], [0.9, 0.8], ["adidas", "nike"]), None]
    res = evaluate_detections(samples, preds)
    assert list(res["per_class_ap"]) == ["adidas"]  # nike has no ground truth: no AP
    assert res["per_class_ap"]["adidas"] == pytest.approx(0.5)
    full = evaluate(samples, preds)
    assert full["n_unreadable"] == 1 and full["n_images"] == 2


def test_perfect_predictions_give_map_one():
    samples = [sample("i0", [A, B], ["adidas", "HP"]), sample("i1", [C], ["HP"]), sample("i2", [], [])]
    preds = [det(s.boxes, [0.9] * len(s.boxes), s.brands) for s in samples]
    res = evaluate_detections(samples, preds)
    assert res["map"] == 1.0 and res["detection_recall"] == 1.0 and res["agnostic_ap"] == 1.0


def test_empty_ground_truth():
    res = evaluate_detections([sample("i0", [], [])], [det([A], [0.5], ["x"])])
    assert res["map"] is None and res["detection_recall"] is None and res["per_class_ap"] == {}


def test_length_mismatch():
    with pytest.raises(ValueError, match="1 samples but 0 predictions"):
        evaluate_detections([sample("i0", [A], ["x"])], [])


def test_predicted_image_label_skips_unknown():
    d = det([A, B, C], [0.99, 0.6, 0.7], ["unknown", "adidas", "HP"])
    assert predicted_image_label(d) == "HP"
    assert predicted_image_label(det([A], [0.9], ["unknown"])) == "no-logo"
    assert predicted_image_label(None) == "no-logo"


def test_image_level_metrics_known_case():
    samples = [
        sample("a", [A], ["adidas"], "adidas"),
        sample("h", [A], ["HP"], "HP"),
        sample("c", [A], ["cocacola"], "cocacola"),
        sample("n1", [], [], "no-logo"),
        sample("n2", [], [], "no-logo"),
        sample("x", [A], ["adidas"]),  # no image label: not scored
    ]
    preds = [
        det([A, B], [0.5, 0.9], ["adidas", "unknown"]),  # correct (the unknown top box is ignored)
        det([A], [0.8], ["adidas"]),  # wrong logo
        det([], [], []),  # logo missed
        det([A], [0.9], ["unknown"]),  # correct no-logo
        det([A], [0.4], ["hp"]),  # false logo on a no-logo image
        det([A], [0.9], ["HP"]),
    ]
    m = image_level_metrics(samples, preds)
    # predicted as some logo: a, h, n2 = 3, of which correct: a -> precision 1/3
    # logo images: a, h, c = 3, correct: a -> recall 1/3
    # correct overall: a, n1 = 2 of 5 -> accuracy 0.4
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["accuracy"] == pytest.approx(0.4)
    assert (m["n_images"], m["n_logo_images"], m["n_no_logo_images"]) == (5, 3, 2)


@pytest.mark.parametrize(
    ("preds", "expectation"),
    [
        ([None], DoesNotRaise()),
        ([], pytest.raises(ValueError)),
    ],
)
def test_image_level_metrics_undefined_ratios(preds, expectation):
    with expectation:
        m = image_level_metrics([sample("n", [], [], "no-logo")], preds)
        assert m["accuracy"] == 1.0 and m["precision"] is None and m["recall"] is None
