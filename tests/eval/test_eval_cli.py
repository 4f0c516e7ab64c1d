"""``osld evaluate`` through typer's CliRunner, with a stub pipeline that returns the ground truth.

The stub is a test double for the model: the metric, reader and report code is what is under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from osld.errors import OsldWarning
from osld.eval import cli, read_coco, read_flickrlogos27, read_flickrlogos32, read_yolo_dataset

from .fixtures import perfect_detections

runner = CliRunner()
JSON_KEYS = {"map50", "per_class_ap", "detection_recall", "image_accuracy", "image_precision", "image_recall",
             "n_images"}


class StubPipeline:
    """Yields perfect detections (ground truth, brands lower-cased) for known paths, None for others."""

    def __init__(self, samples: list, registry: Path | None = None):
        self.truth = dict(zip([s.path for s in samples], perfect_detections(samples), strict=True))
        self.registry = registry
        self.runs: list[list[Path]] = []

    def run(self, paths, progress=False):
        self.runs.append(list(paths))
        for p in paths:
            d = self.truth.get(p)
            yield SimpleNamespace(path=p, detections=d, error=None if d is not None else "cannot read")


@pytest.fixture
def stub(monkeypatch):
    """Patch ``_load_pipeline``; tests set ``stub.samples``; ``stub.made`` records every model load."""
    state = SimpleNamespace(samples=[], made=[], registry_files=[])

    def load(registry, detector, embedder):
        files = Path(registry).rglob("*.png")
        state.registry_files = sorted(p.relative_to(registry).as_posix() for p in files)
        pipe = StubPipeline(state.samples, registry)
        state.made.append(pipe)
        return pipe

    monkeypatch.setattr(cli, "_load_pipeline", load)
    return state


def _registry(tmp_path: Path) -> Path:
    reg = tmp_path / "registry"
    (reg / "adidas").mkdir(parents=True)
    return reg


def test_flickrlogos32_json_and_report(fl32_root: Path, tmp_path: Path, stub):
    stub.samples = read_flickrlogos32(fl32_root, "all")
    out, report = tmp_path / "m.json", tmp_path / "report"
    args = ["flickrlogos32", "--root", str(fl32_root), "--registry", str(_registry(tmp_path)),
            "--json", str(out), "--report", str(report)]
    result = runner.invoke(cli.evaluate_app, args)
    assert result.exit_code == 0, result.output
    assert "VOC all-point" in result.output and "no-logo" in result.output
    metrics = json.loads(out.read_text())
    assert metrics.keys() >= JSON_KEYS
    assert metrics["map50"] == 1.0 and metrics["detection_recall"] == 1.0 and metrics["image_accuracy"] == 1.0
    assert metrics["n_images"] == 8 and set(metrics["per_class_ap"]) == {"adidas", "HP", "cocacola"}
    for name in ("report.md", "pr_curves.png", "per_class_ap.png"):
        assert (report / name).stat().st_size > 0
    assert (report / "pr_curves.png").read_bytes().startswith(b"\x89PNG")
    md = (report / "report.md").read_text()
    assert "| cocacola | 3 | 3 | 1.000 |" in md and "pr_curves.png" in md
    # one model, one pass over the images, each image once
    assert len(stub.made) == 1 and len(stub.made[0].runs) == 1 and len(stub.made[0].runs[0]) == 8


def test_flickrlogos32_registry_from_train(fl32_root: Path, tmp_path: Path, stub):
    stub.samples = read_flickrlogos32(fl32_root, "valset")
    args = ["flickrlogos32", "--root", str(fl32_root), "--split", "valset", "--registry-from-train", "1",
            "--json", str(tmp_path / "m.json")]
    result = runner.invoke(cli.evaluate_app, args)
    assert result.exit_code == 0, result.output
    assert stub.registry_files == ["HP/1010_0.png", "adidas/1000_0.png", "cocacola/1020_0.png"]
    assert not stub.made[0].registry.exists()  # the temporary registry is cleaned up
    assert json.loads((tmp_path / "m.json").read_text())["n_images"] == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "exactly one of --registry DIR or --registry-from-train N"),
        (["--registry-from-train", "1", "--registry", "REG"], "exactly one of"),
        (["--registry", "REG", "--split", "nosuchsplit"], "no split list 'nosuchsplit'"),
    ],
)
def test_flickrlogos32_errors(fl32_root: Path, tmp_path: Path, stub, extra: list[str], message: str):
    extra = [str(_registry(tmp_path)) if a == "REG" else a for a in extra]
    result = runner.invoke(cli.evaluate_app, ["flickrlogos32", "--root", str(fl32_root), *extra])
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.startswith("error:")
    assert not stub.made


def test_flickrlogos27(fl27_root: Path, tmp_path: Path, stub):
    stub.samples = read_flickrlogos27(fl27_root)
    out = tmp_path / "m.json"
    result = runner.invoke(cli.evaluate_app, ["flickrlogos27", "--root", str(fl27_root), "--registry",
                                              str(_registry(tmp_path)), "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["map50"] == 1.0 and metrics["image_accuracy"] == 1.0 and metrics["n_images"] == 7


def test_yolo_data(yolo_yaml: Path, tmp_path: Path, stub):
    stub.samples = read_yolo_dataset(yolo_yaml)
    out, report = tmp_path / "m.json", tmp_path / "r"
    args = ["--data", str(yolo_yaml), "--registry", str(_registry(tmp_path)), "--json", str(out),
            "--report", str(report)]
    result = runner.invoke(cli.evaluate_app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["map50"] == 1.0 and metrics["image_accuracy"] is None  # YOLO sets have no image labels
    assert (report / "report.md").exists() and (report / "per_class_ap.png").exists()


def test_coco(coco_set: tuple[Path, Path], tmp_path: Path, stub):
    ann, images = coco_set
    stub.samples = read_coco(ann, images)[:2]  # the third image is "unreadable" for the stub
    out = tmp_path / "m.json"
    args = ["--coco", str(ann), "--images", str(images), "--registry", str(_registry(tmp_path)),
            "--json", str(out)]
    with pytest.warns(OsldWarning, match="1 images could not be read"):
        result = runner.invoke(cli.evaluate_app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["map50"] == 1.0 and metrics["n_unreadable"] == 1
    assert set(metrics["per_class_ap"]) == {"adidas", "coca-cola"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 0, "flickrlogos32"),  # help
        (["--coco", "ANN", "--registry", "REG"], 1, "--coco needs --images"),
        (["--coco", "ANN", "--images", "IMG"], 1, "--registry is required"),
    ],
)
def test_callback_usage(coco_set: tuple[Path, Path], tmp_path: Path, stub, args, code, message):
    ann, images = coco_set
    subst = {"ANN": str(ann), "IMG": str(images), "REG": str(_registry(tmp_path))}
    result = runner.invoke(cli.evaluate_app, [subst.get(a, a) for a in args])
    assert result.exit_code == code
    assert message in result.output
