"""Pooling several sets' detector metrics into the one number issue 11's target is read from."""

from __future__ import annotations

import math

import numpy as np

from osld.detector.evaluate import SIZE_BUCKETS, TOP_K_PROPOSALS, pool_results


def _result(n_images: int, n_boxes: int, recall: float, per_bucket: dict[str, tuple[float, int]],
            proposals: float) -> dict:
    sizes = {name: {"n": per_bucket.get(name, (math.nan, 0))[1], "recall": per_bucket.get(name, (math.nan, 0))[0]}
             for *_, name in SIZE_BUCKETS}
    return {"n_images": n_images, "n_boxes": n_boxes, "recall@0.5": recall, "ap50": 0.5, "ap50_95": 0.3,
            "proposals_per_image": proposals, "recall_by_size": sizes, f"recall@0.5_top{TOP_K_PROPOSALS}": recall,
            "recall@0.5_proposals": recall, "proposals_per_image_at_proposal_conf": 2 * proposals,
            f"recall_by_size_top{TOP_K_PROPOSALS}": sizes,
            # two thresholds: the low one proposes 3x as many boxes and finds every logo
            "curve": {"conf": [0.02, 0.25], "recall": [1.0, recall], "proposals_per_image": [3 * proposals, proposals]}}


def test_recalls_pool_by_boxes_and_proposals_by_images():
    big = _result(n_images=10, n_boxes=90, recall=0.5, per_bucket={"<5%": (0.0, 30), "20-40%": (0.75, 60)},
                  proposals=1.0)
    small = _result(n_images=30, n_boxes=10, recall=1.0, per_bucket={"20-40%": (1.0, 10)}, proposals=3.0)
    pooled = pool_results([big, small])

    assert (pooled["n_images"], pooled["n_boxes"]) == (40, 100)
    assert math.isclose(pooled["recall@0.5"], (45 + 10) / 100)  # not the mean of the two recalls (0.75)
    assert math.isclose(pooled[f"recall@0.5_top{TOP_K_PROPOSALS}"], 0.55)
    assert math.isclose(pooled["proposals_per_image"], (10 * 1.0 + 30 * 3.0) / 40)
    assert math.isclose(pooled["proposals_per_image_at_proposal_conf"], 5.0)
    assert pooled["recall_by_size"]["20-40%"] == {"n": 70, "recall": (45 + 10) / 70}
    assert pooled["recall_by_size"]["<5%"] == {"n": 30, "recall": 0.0}
    assert pooled["recall_by_size"][">40%"]["n"] == 0 and math.isnan(pooled["recall_by_size"][">40%"]["recall"])
    assert math.isnan(pooled["ap50"])  # AP does not pool from per-set numbers
    # the curves pool point by point, the same way; at 0.02 the pooled set proposes (30 + 270) / 40 = 7.5 per
    # image, over the budget of 5, so its recall within 5 is the one at 0.25
    assert pooled["curve"]["recall"] == [1.0, 0.55]
    assert pooled["curve"]["proposals_per_image"] == [7.5, 2.5]
    assert (pooled[f"recall@0.5_within{TOP_K_PROPOSALS}"], pooled[f"conf_within{TOP_K_PROPOSALS}"]) == (0.55, 0.25)


def test_recall_within_the_budget_takes_the_lowest_threshold_that_fits():
    from osld.detector.evaluate import operating_curve, recall_within
    from osld.types import Detections

    logo = np.array([[100, 100, 140, 140]], np.float32)
    # a sign scored 0.5, the logo 0.1 and two blobs 0.03: the logo costs two proposals, the blobs four
    found = Detections(np.array([[0, 0, 50, 20], [101, 99, 141, 140], [300, 300, 320, 320], [400, 0, 420, 20]],
                                np.float32), np.array([0.5, 0.1, 0.03, 0.03], np.float32))
    curve = operating_curve([found], [logo], confs=(0.02, 0.05, 0.3))
    assert curve["recall"] == [1.0, 1.0, 0.0]
    assert curve["proposals_per_image"] == [4.0, 2.0, 1.0]
    assert recall_within(curve, proposals=2) == (1.0, 0.05)
    assert recall_within(curve, proposals=1) == (0.0, 0.3)
    assert all(map(math.isnan, recall_within(curve, proposals=0.5)))


def test_evaluate_cli_pools_a_repeated_real_dir_once(tmp_path, scene_images):
    import json

    from typer.testing import CliRunner

    from osld.cli import app
    from osld.data.yolo import yologo_split

    def real_dir(name: str, n: int, seed: int):
        root = tmp_path / name
        (root / "labels").mkdir(parents=True)
        for image in scene_images(n, root / "images", seed=seed):
            (root / "labels" / f"{image.stem}.txt").write_text("0 0.5 0.5 0.3 0.3\n0 0.2 0.2 0.1 0.1\n")
        return root

    a, b = real_dir("a", 10, 0), real_dir("b", 10, 50)
    out, sheet, curves = tmp_path / "m.json", tmp_path / "misses.png", tmp_path / "curves.png"
    result = CliRunner().invoke(app, ["evaluate", "detector", "--real-dir", str(a), "--real-dir", str(a),
                                      "--real-dir", str(b), "--json", str(out), "--misses", str(sheet),
                                      "--curve", str(curves)])
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())["results"]
    n_val = len(yologo_split(a)[1]) + len(yologo_split(b)[1])
    assert set(results) == {"a (val)", "b (val)", "real val parts, pooled"}
    assert results["real val parts, pooled"]["n_images"] == n_val
    assert results["real val parts, pooled"]["n_boxes"] == 2 * n_val
    # every missed box has exactly one cause, and the picture shows the images with misses
    pooled = results["real val parts, pooled"]
    found = sum(round(v["n"] * v["recall"]) for v in pooled["recall_by_size"].values() if v["n"])
    assert sum(pooled["misses"].values()) == pooled["n_boxes"] - found
    assert "by cause" in result.output
    # recall only grows as the threshold falls, and the picture of it is written
    for key in ("recall", "proposals_per_image"):
        assert np.all(np.diff(pooled["curve"][key]) <= 0)
    import cv2

    assert cv2.imread(str(curves)) is not None
    if found < pooled["n_boxes"]:
        import cv2

        picture = cv2.imread(str(sheet))
        assert picture is not None and picture.shape[1] == 4 * 360
