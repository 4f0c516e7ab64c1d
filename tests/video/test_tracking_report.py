"""Tracker, vote and exposure arithmetic on hand-made boxes and records (no models)."""

import json

import numpy as np
import pytest

from osld.report import exposure, write_report
from osld.video import IouTracker, vote_brand
from osld.video.source import sampled


def _run(tracker, frames):
    return [tracker.update(np.array(boxes, float).reshape(-1, 4), brands, t).tolist() for t, boxes, brands in frames]


@pytest.mark.parametrize(("frames", "expected"), [
    # a box drifting with overlap keeps its id; a second box gets its own
    ([(0.0, [[0, 0, 10, 10]], ["a"]), (0.5, [[2, 0, 12, 10], [50, 50, 60, 60]], ["a", "b"]),
      (1.0, [[4, 0, 14, 10], [50, 50, 60, 60]], ["a", "b"])], [[1], [1, 2], [1, 2]]),
    # missed for 1 s (<= max_gap_s): same track; missed for 1.5 s: a new one
    ([(0.0, [[0, 0, 10, 10]], ["a"]), (1.0, [[0, 0, 10, 10]], ["a"]), (2.5, [[0, 0, 10, 10]], ["a"])],
     [[1], [1], [2]]),
    # jumped past IoU but within one diagonal: joins only a track of the same known brand
    ([(0.0, [[0, 0, 10, 10], [100, 0, 110, 10]], ["a", "b"]), (0.5, [[11, 0, 21, 10], [89, 0, 99, 10]],
                                                                   ["a", "unknown"])], [[1, 2], [1, 3]]),
])
def test_iou_tracker(frames, expected):
    assert _run(IouTracker(), frames) == expected


def test_restore_continues_ids():
    records, full = [], IouTracker()
    frames = [(t * 0.5, [[t, 0, t + 10, 10]], ["a"]) for t in range(6)]
    ids = _run(full, frames)
    for (t, boxes, brands), tid in zip(frames[:3], ids[:3], strict=True):
        records.append({"time_s": t, "detections": [{"box": boxes[0], "brand": brands[0], "track_id": tid[0]}]})
    resumed = IouTracker()
    resumed.restore(records)
    assert _run(resumed, frames[3:]) == ids[3:]


@pytest.mark.parametrize(("brands", "sims", "expected"), [
    (["nike", "nike", "puma", "nike"], None, "nike"),
    (["unknown", "unknown", "nike"], None, "unknown"),
    (["nike", "puma"], [0.6, 0.8], "puma"),
    ([], None, "unknown"),
])
def test_vote_brand(brands, sims, expected):
    assert vote_brand(brands, sims) == expected


def test_sampling_is_the_same_from_any_start():
    kept = [i for i in range(250) if sampled(i, 25.0, 2.0)]
    assert len(kept) == 20 and kept[:3] == [0, 13, 25]
    assert all(sampled(i, 25.0, 0) for i in range(10))


def _frame(i, dets, w=100, h=100):
    return {"video": "v.mp4", "frame": i * 5, "time_s": i * 0.5, "width": w, "height": h, "error": None,
            "detections": [{"box": b, "score": 0.8, "brand": br, "similarity": 0.7, "track_id": tid}
                           for b, br, tid in dets]}


def test_exposure_seconds_votes_and_areas():
    box = [0, 0, 10, 10]  # 1% of the frame
    recs = [_frame(i, []) for i in range(2)]
    # track 1: frames 2..7, one misnamed frame (puma), one unknown frame: 6 frames -> 3.0 s of nike
    names = ["nike", "nike", "puma", "nike", "unknown", "nike"]
    recs += [_frame(2 + k, [(box, names[k], 1)]) for k in range(6)]
    # track 2: nike again at frames 10..11 (1.0 s), overlapping nothing; track 3: a one-frame puma
    recs += [_frame(10, [([0, 0, 20, 20], "nike", 2)]), _frame(11, [([0, 0, 20, 20], "nike", 2), (box, "puma", 3)])]
    recs.append({"video": "bad.mp4", "frame": None, "time_s": None, "detections": [], "error": "bad.mp4: empty"})
    rep = exposure(recs)
    rows = {r.brand: r for r in rep.brands}
    assert rows["nike"].seconds_on_screen == pytest.approx(4.0)
    assert rows["nike"].appearances == 2 and rows["nike"].frames == 8
    assert rows["nike"].max_area_share == pytest.approx(0.04) and rows["nike"].first_seen_s == 1.0
    assert rows["puma"].appearances == 1 and rows["puma"].seconds_on_screen == pytest.approx(0.5)
    assert rep.errors == ["bad.mp4: empty"]
    assert [b.brand for b in exposure(recs, min_track_frames=2).brands] == ["nike"]


def test_photo_report_counts(tmp_path):
    from pathlib import Path

    img = str(Path(__file__).resolve().parents[2] / "datasets" / "demo" / "images" / "car_bmw.jpg")
    recs = [{"image": img, "width": 640, "height": 480, "error": None,
             "detections": [{"box": [10, 10, 110, 110], "score": 0.9, "brand": "bmw", "similarity": 0.8},
                            {"box": [200, 10, 260, 70], "score": 0.5, "brand": "bmw", "similarity": 0.6}]},
            {"image": "missing.jpg", "width": 640, "height": 480, "error": None, "detections": []}]
    src = tmp_path / "photos.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    paths = write_report(src, tmp_path / "rep")
    data = json.loads(paths["json"].read_text())
    (row,) = data["brands"]
    assert (row["brand"], row["images"], row["appearances"], row["seconds_on_screen"]) == ("bmw", 1, 2, 0.0)
    assert row["mean_similarity"] == pytest.approx(0.7)
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "rep" / "thumbs").is_dir() and "bmw" in paths["html"].read_text()


def test_truncated_avi_yields_frames_then_an_error(tmp_path):
    """An AVI cut mid-stream still opens: the frames before the cut come out, then one VideoReadError."""
    import cv2

    from osld.video import VideoReadError, iter_frames

    path = tmp_path / "a.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(40):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    assert [f.index for f in iter_frames(path, fps=2)] == [0, 5, 10, 15, 20, 25, 30, 35]
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    seen = []
    with pytest.raises(VideoReadError, match="truncated"):
        for f in iter_frames(cut, fps=0):
            seen.append(f.index)
    assert 0 < len(seen) < 40 and seen == list(range(len(seen)))
