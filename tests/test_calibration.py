"""Naming decisions: calibrated confidence, registry-aware accept threshold, the shipped impostor set."""

import json

import numpy as np
import pytest

from osld.calibration import (
    NamingDefaults,
    accept_threshold,
    calibrate,
    confidence,
    decide,
    features,
    fit_logistic,
    impostor_scores,
    negative_files,
)
from osld.registry import Registry
from osld.types import UNKNOWN, Detections
from tests._shared import shared_path


def _unit(rng, n, d=32):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_threshold_grows_with_the_registry():
    rng = np.random.default_rng(0)
    neg = _unit(rng, 400)
    small, large = _unit(rng, 10), _unit(rng, 3000)
    t_small = accept_threshold({"impostor_sims": np.sort(impostor_scores(
        small, np.array([f"b{i}" for i in range(10)], object), neg, [None] * 400))[::-1].tolist()}, 0.01, -1)
    t_large = accept_threshold({"impostor_sims": np.sort(impostor_scores(
        large, np.array([f"b{i}" for i in range(3000)], object), neg, [None] * 400))[::-1].tolist()}, 0.01, -1)
    assert t_large > t_small
    # at most `far` of the impostors reach the threshold
    sims = impostor_scores(large, np.array([f"b{i}" for i in range(3000)], object), neg, [None] * 400)
    assert (sims >= t_large).mean() <= 0.01
    assert accept_threshold(None, 0.01, 0.45) == 0.45


def test_impostors_skip_their_own_registered_brand():
    v = np.eye(4, dtype=np.float32)
    brands = np.array(["acme", "b", "c", "d"], object)
    neg = v[[0, 1]]
    scores = impostor_scores(v, brands, neg, ["ACME", None])  # a crop of acme is not an acme impostor
    assert len(scores) == 1 and scores[0] == 1.0


def test_logistic_fit_orders_by_evidence():
    rng = np.random.default_rng(1)
    n = 600
    sim = rng.uniform(0.2, 0.9, n)
    score = rng.uniform(0.01, 1.0, n)
    y = (sim + 0.2 * score + rng.normal(0, 0.05, n) > 0.7).astype(float)
    coef = fit_logistic(features(score, sim, np.zeros(n)), y)
    assert coef[1] > 0 and coef[0] > 0
    c = confidence(score, sim, np.zeros(n), coef)
    assert np.all((c >= 0) & (c <= 1))
    assert c[y == 1].mean() > c[y == 0].mean() + 0.3


def test_decide_names_reports_and_ranks():
    det = Detections(np.array([[0, 0, 10, 10]] * 4, np.float32), np.array([0.9, 0.05, 0.5, 0.03], np.float32),
                     np.array(["a", "b", "c", "d"], object), np.array([0.8, 0.9, 0.5, 0.3], np.float32),
                     confidence=np.array([0.7, 0.8, 0.6, 0.01], np.float32))
    out = decide(det, accept_sim=0.6, min_conf=0.5, unknown_conf=0.25)
    # a, b named (sim and confidence clear); c too dissimilar -> unknown, kept by its detector score; d dropped
    assert list(out.brand) == ["b", "a", UNKNOWN]
    assert np.all(np.diff(out.confidence) <= 0)
    assert out.confidence[2] == np.float32(0.5)  # an unknown region ranks by its detector score


def test_decide_keeps_one_box_per_nested_same_brand_pair():
    # a partly hidden logo: its visible part (confident) inside a faint box around the whole logo, same brand;
    # a box of another brand inside it and a same-brand box beside it are different logos and stay
    xyxy = np.array([[216, 75, 292, 182], [174, 69, 304, 194], [220, 80, 280, 170], [400, 75, 480, 182]], np.float32)
    det = Detections(xyxy, np.array([0.63, 0.05, 0.6, 0.6], np.float32), np.array(["s", "s", "g", "s"], object),
                     np.array([0.8, 0.63, 0.8, 0.8], np.float32), confidence=np.array([0.99, 0.15, 0.9, 0.9],
                                                                                       np.float32))
    out = decide(det, accept_sim=0.6, min_conf=0.1, unknown_conf=0.25)
    assert sorted(map(tuple, out.xyxy.astype(int).tolist())) == sorted(
        [(216, 75, 292, 182), (220, 80, 280, 170), (400, 75, 480, 182)])


@pytest.mark.parametrize("frame_brand, frame_conf, box_brand, box_conf, kept", [
    ("a", 0.8, "a", 0.6, "frame"),  # both named: the more confident
    ("a", 0.5, "b", 0.7, "box"),
    ("a", 0.45, UNKNOWN, 0.9, "frame"),  # a name beats an unknown box, whatever its detector score
    (UNKNOWN, 0.5, UNKNOWN, 0.6, "box"),  # an unnamed whole frame is never shown: the box stays
])
def test_decide_reports_one_of_the_whole_frame_and_a_box_covering_it(frame_brand, frame_conf, box_brand, box_conf,
                                                                    kept):
    frame, box, inner = [0, 0, 200, 100], [5, 0, 200, 95], [20, 20, 60, 60]  # inner: IoU 0.08, another logo
    sim = np.array([0.8 if b != UNKNOWN else 0.3 for b in (box_brand, "c", frame_brand)], np.float32)
    det = Detections(np.array([box, inner, frame], np.float32), np.array([box_conf, 0.9, 0.5], np.float32),
                     np.array([box_brand, "c", frame_brand], object), sim,
                     confidence=np.array([box_conf, 0.9, frame_conf], np.float32))
    out = decide(det, accept_sim=0.6, min_conf=0.4, unknown_conf=0.25, named_only=np.array([False, False, True]))
    assert sorted(out.xyxy.astype(int).tolist()) == sorted([inner, frame if kept == "frame" else box])


def test_defaults_round_trip(tmp_path):
    d = NamingDefaults(min_conf=0.33, coef=(1.0, 2.0, 3.0, -4.0))
    d.save(tmp_path, note="x")
    assert NamingDefaults.load(tmp_path) == d
    assert NamingDefaults.load(tmp_path / "missing") == NamingDefaults()


def test_registry_manifest_holds_calibration(tmp_path, shipped_embedder, logo_png):
    reg = Registry(tmp_path / "reg", shipped_embedder)
    reg.add("acme", [logo_png(1)])
    reg.add("zeta", [logo_png(2)])
    manifest = json.loads((reg.index_dir / "manifest.json").read_text())
    calib = manifest["calibration"]
    assert calib["embedder"] == shipped_embedder.fingerprint and calib["n_impostors"] == len(negative_files())
    assert reg.calibration == calib
    # the stored statistic is what calibrate() computes for these vectors
    again = calibrate(reg.vectors, reg.row_brands, shipped_embedder, reg.index_dir, reg.row_offsets)
    assert again["impostor_sims"] == calib["impostor_sims"]


def test_negative_set_is_small_and_never_held_out():
    from osld.data.logos import normalize_brand, read_heldout

    files = negative_files()
    assert 100 <= len(files) <= 1000
    heldout = read_heldout(shared_path("heldout_brands.txt"))
    brands = {normalize_brand(f.stem.split("_", 1)[1].rsplit("_", 1)[0]) for f in files if f.stem.startswith("logo_")}
    assert brands and not brands & heldout


def test_evaluation_ranks_by_confidence():
    from osld.eval.datasets import Sample
    from osld.eval.metrics import evaluate_detections, operating_point

    box = np.array([[0, 0, 10, 10]], np.float32)
    samples = [Sample("a.jpg", box, ["acme"]), Sample("b.jpg", np.zeros((0, 4)), [])]
    # the false positive has the higher detector score, the true positive the higher confidence
    preds = [Detections(box, [0.1], ["acme"], [0.9], confidence=[0.9]),
             Detections(box, [0.9], ["acme"], [0.5], confidence=[0.2])]
    assert evaluate_detections(samples, preds)["map"] == 1.0
    op = operating_point(samples, preds)
    assert op["precision"] == 0.5 and op["recall"] == 1.0
