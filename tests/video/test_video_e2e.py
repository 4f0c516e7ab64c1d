"""A real clip (pan/zoom over a demo photo, two demo logos moving, one partly hidden for a while): ``osld detect``
at --fps 2, tracks, resume after a kill, bad videos, and ``osld report`` against the clip's ground truth."""

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from osld.cli import app
from osld.video.demo import ClipLogo, render_clip

DEMO = Path(__file__).resolve().parents[2] / "datasets" / "demo"
BRANDS = ("spotify", "github", "toyota", "python", "nvidia", "slack", "netflix", "docker")
FPS = 2.0
runner = CliRunner()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """10 s at 10 fps, 640x360: spotify 1-7 s (40% hidden 3.0-3.6 s), github 4-9 s; returns (path, truth)."""
    root = tmp_path_factory.mktemp("clip")
    logos = [ClipLogo("spotify", DEMO / "logos/spotify/logos.png", 1.0, 7.0, (0.25, 0.35, 0.16), (0.6, 0.4, 0.2),
                      hidden=(3.0, 3.6)),
             ClipLogo("github", DEMO / "logos/github/logos.png", 4.0, 9.0, (0.75, 0.7, 0.12), (0.7, 0.65, 0.22))]
    path = root / "match.mp4"
    return path, render_clip(path, DEMO / "images" / "car_toyota.jpg", logos, seconds=10.0, fps=10.0)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg") / "logos"
    for b in BRANDS:
        shutil.copytree(DEMO / "logos" / b, root / b)
    return root


@pytest.fixture(scope="module")
def detected(clip, registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "match.jsonl"
    result = runner.invoke(app, ["detect", str(clip[0]), "--registry", str(registry), "--fps", str(FPS),
                                 "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 video: 20 frames" in result.output
    return out, [json.loads(line) for line in out.read_text().splitlines()]


def _track_ids(records, brand):
    return {d["track_id"] for r in records for d in r["detections"] if d["brand"] == brand}


def test_frames_times_and_tracks(detected, clip):
    _, records = detected
    assert len(records) == 20  # 10 s sampled at 2 fps
    assert all({"video", "frame", "time_s", "width", "height", "detections", "error"} <= set(r) for r in records)
    times = [r["time_s"] for r in records]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[1] - times[0] == pytest.approx(1 / FPS)
    assert all(r["error"] is None and (r["width"], r["height"]) == (640, 360) for r in records)
    for brand, (t0, t1) in {"spotify": (1.0, 7.0), "github": (4.0, 9.0)}.items():
        seen = [r["time_s"] for r in records if any(d["brand"] == brand for d in r["detections"])]
        assert seen and t0 - 1e-6 <= min(seen) and max(seen) < t1  # never named outside its time on screen
        assert len(seen) >= 0.7 * (t1 - t0) * FPS  # found in most frames it is in
        assert len(_track_ids(records, brand)) == 1  # one continuous appearance = one track, despite the occlusion


def test_report_matches_truth(detected, clip, tmp_path):
    out, _ = detected
    truth = clip[1]
    result = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "rep" / "exposure.json").read_text())
    rows = {r["brand"]: r for r in data["brands"]}
    for brand, seconds in truth.items():
        assert abs(rows[brand]["seconds_on_screen"] - seconds) <= 1 / FPS + 1e-6, (brand, rows[brand])
        assert rows[brand]["appearances"] == 1
        assert 0 < rows[brand]["mean_area_share"] <= rows[brand]["max_area_share"] < 0.2
        assert rows[brand]["best"]["source"] == str(clip[0])
    assert rows["spotify"]["first_seen_s"] == pytest.approx(1.0)
    csv_text = (tmp_path / "rep" / "exposure.csv").read_text()
    assert csv_text.startswith("brand,seconds_on_screen") and "spotify" in csv_text
    with Image.open(tmp_path / "rep" / "timeline.png") as im:
        assert im.width >= 600
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "<table>" in html and "timeline.png" in html
    thumbs = list((tmp_path / "rep" / "thumbs").glob("*.jpg"))
    assert len(thumbs) == len(rows) and all(f"thumbs/{t.name}" in html for t in thumbs)


def test_resume_after_kill_continues_without_duplicates(detected, clip, registry, tmp_path):
    out, records = detected
    partial = tmp_path / "partial.jsonl"
    lines = out.read_text().splitlines(keepends=True)
    partial.write_text("".join(lines[:7]) + lines[7][: len(lines[7]) // 2])  # kill -9 mid-write of frame 8
    result = runner.invoke(app, ["detect", str(clip[0]), "--registry", str(registry), "--fps", str(FPS),
                                 "--out", str(partial), "--resume", "--no-progress"])
    assert result.exit_code == 0, result.output
    resumed = [json.loads(line) for line in partial.read_text().splitlines()]
    assert [r["frame"] for r in resumed] == [r["frame"] for r in records]  # no duplicate, none missing
    # the same boxes and the same track ids as the uninterrupted run
    assert [[(d["brand"], d["track_id"]) for d in r["detections"]] for r in resumed] == \
        [[(d["brand"], d["track_id"]) for d in r["detections"]] for r in records]


def test_bad_videos_give_one_error_record_each(clip, registry, tmp_path, scene_images):
    data = clip[0].read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])
    (folder / "empty.mov").write_bytes(b"")
    (folder / "noise.webm").write_bytes(np.random.default_rng(0).bytes(5000))
    with wave.open(str(folder / "audio_only.mkv"), "wb") as w:  # WAV bytes: a file with no video stream
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(8000, np.int16).tobytes())
    scene_images(1, folder)
    out = tmp_path / "r.jsonl"
    result = runner.invoke(app, ["detect", str(folder), "--registry", str(registry), "--out", str(out),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output  # the batch goes on
    assert result.exception is None and "Traceback" not in result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    errors = {Path(r["video"]).name: r["error"] for r in records if "video" in r}
    assert set(errors) == {"cut.mp4", "empty.mov", "noise.webm", "audio_only.mkv"}
    assert all(e and "\n" not in e for e in errors.values())
    assert sum("image" in r and r["error"] is None for r in records) == 1
    assert result.output.count("skipped:") == 4
