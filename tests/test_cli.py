"""The typer CLI, in-process."""

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from osld.cli import app

DEMO = Path(__file__).resolve().parents[1] / "datasets" / "demo"
runner = CliRunner()


@pytest.fixture
def registry(tmp_path):
    root = tmp_path / "logos"
    shutil.copytree(DEMO / "logos", root, ignore=shutil.ignore_patterns(".osld"))
    return root


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ["detect", "register", "registry", "evaluate", "train", "synth"]:
        assert cmd in result.output


def test_detect_jsonl_schema(tmp_path, registry):
    out = tmp_path / "r.jsonl"
    result = runner.invoke(app, ["detect", str(DEMO / "images" / "car_bmw.jpg"), str(DEMO / "images" /
                                 "composite_1.jpg"), "--registry", str(registry), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "images/s" in result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["image"]).name for r in records] == ["car_bmw.jpg", "composite_1.jpg"]
    for r in records:
        assert set(r) == {"image", "width", "height", "detections", "error", "abspath"}
        assert r["error"] is None and r["width"] > 0
        for d in r["detections"]:
            assert set(d) == {"box", "confidence", "score", "brand", "similarity", "alternatives"}
            assert len(d["box"]) == 4 and 0 <= d["score"] <= 1
            assert all(set(a) == {"brand", "similarity"} for a in d["alternatives"])
    assert {"github", "python", "spotify"} <= {d["brand"] for d in records[1]["detections"]}


def test_detect_csv_and_vis(tmp_path, registry):
    out = tmp_path / "r.csv"
    vis = tmp_path / "vis"
    result = runner.invoke(app, ["detect", str(DEMO / "images"), "--registry", str(registry), "--out", str(out),
                                 "--format", "csv", "--save-vis", str(vis)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert {Path(r["image"]).name for r in rows} == {p.name for p in (DEMO / "images").iterdir()}
    assert len(list(vis.glob("*.jpg"))) == len(list((DEMO / "images").iterdir()))


def test_register_list_remove(tmp_path, registry, logo_png):
    png = logo_png(5)
    result = runner.invoke(app, ["register", "Acme Café", str(png), "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    assert (registry / "Acme Café" / png.name).exists()
    listed = runner.invoke(app, ["registry", "list", "--registry", str(registry), "--json"])
    counts = json.loads(listed.stdout)
    assert counts["Acme Café"] == 1 and counts["toyota"] >= 1
    assert runner.invoke(app, ["registry", "remove", "Acme Café", "--registry", str(registry)]).exit_code == 0
    assert not (registry / "Acme Café").exists()


def test_register_rejects_hostile_brand(tmp_path, registry, logo_png):
    result = runner.invoke(app, ["register", "../evil", str(logo_png(1)), "--registry", str(registry)])
    assert result.exit_code == 1
    assert "invalid brand name" in result.output
    assert not (tmp_path / "evil").exists()


def test_detect_missing_input_is_one_line_error(tmp_path):
    result = runner.invoke(app, ["detect", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_help_is_plain_ordered_and_shows_defaults():
    from osld.cli_base import COMMAND_ORDER
    from osld.pipeline import MatchConfig

    top = runner.invoke(app, ["--help"]).output
    listed = [line.split()[0] for line in top.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == [c for c in COMMAND_ORDER if c in listed] and listed[0] == "detect"
    detect = runner.invoke(app, ["detect", "--help"]).output
    assert "<bool>" not in detect and "╭" not in detect and "{" not in detect.splitlines()[0]
    assert "detect [OPTIONS] INPUTS..." in " ".join(detect.split())
    flat = " ".join(detect.split())
    # min_sim has no fixed default: the registry's calibrated threshold (osld.calibration)
    assert "[default: the registry's calibrated threshold for --far]" in flat
    assert f"[default: {MatchConfig.top_k}]" in flat


def test_embedder_card_states_the_code_default():
    from osld.pipeline import MatchConfig

    # no global min_sim default any more: the card must not state one, and must point at the calibration
    assert MatchConfig.min_sim is None
    card = (DEMO.parents[1] / "weights" / "embedder.md").read_text()
    assert not re.findall(r"default `min_sim` is", card)
    assert "--far" in card and "weights/naming.json" in card


@pytest.mark.parametrize("args", [["detect", "x.jpg", "--format", "xml"], ["detect", "x.jpg", "--registry", "/nope"],
                                  ["detect"], ["detect", "x.jpg", "--min-sim", "abc"],
                                  ["train", "embedder", "--max-margin", "-0.1"]])
def test_usage_errors_exit_2_on_one_line(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output


def test_empty_folder_with_strict_fails(tmp_path):
    assert runner.invoke(app, ["detect", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["detect", str(tmp_path), "--strict"])
    assert result.exit_code == 1 and "no images" in result.output


def test_summary_counts_unknown_boxes(tmp_path):
    out = tmp_path / "r.jsonl"
    result = runner.invoke(app, ["detect", str(DEMO / "images" / "composite_1.jpg"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    n = sum(len(json.loads(line)["detections"]) for line in out.read_text().splitlines())
    assert n > 0  # without a registry every box is unknown
    assert f"1 image (0 failed), {n} detection{'s' if n != 1 else ''}: 0 named, {n} unknown" in result.output
