"""``osld detect --engine ray`` on a local 2-CPU Ray instance: same records as the local engine, error records for
bad files, ``--resume``, Parquet output. Run alone with ``pytest -m ray``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from osld.cli import app

pytestmark = pytest.mark.ray

DEMO = Path(__file__).resolve().parents[2] / "datasets" / "demo"

try:
    import ray
    import ray.data  # noqa: F401
except ImportError:
    ray = None


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with 2 CPUs for this module: no dashboard, workers' logs not copied to the test output."""
    if ray is None:
        reason = "needs Ray Data (pip install 'osld[ray]', part of the dev extra)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    # a copy (the tests never write into the repository), with its index when one was built already
    root = tmp_path_factory.mktemp("ray") / "logos"
    shutil.copytree(DEMO / "logos", root, ignore=shutil.ignore_patterns("lock"))
    return root


def detect(*args: str | Path) -> tuple[list[dict], str]:
    result = CliRunner().invoke(app, ["detect", *map(str, args), "--no-progress"])
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    if out.is_dir():  # --format parquet
        return [], result.output
    return [json.loads(line) for line in out.read_text().splitlines()], result.output


@pytest.fixture(scope="module")
def demo_runs(ray_local, registry, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    local, _ = detect(DEMO / "images", "--registry", registry, "--out", tmp / "local.jsonl")
    by_ray, _ = detect(DEMO / "images", "--registry", registry, "--out", tmp / "ray.jsonl", "--engine", "ray",
                       "--workers", "2")
    return local, by_ray


def test_ray_records_equal_local_engine(demo_runs):
    local, by_ray = demo_runs
    assert [r["image"] for r in by_ray] == [r["image"] for r in local]  # same order: the input order
    assert sum(len(r["detections"]) for r in local) > 0
    for a, b in zip(local, by_ray, strict=True):
        assert (a["width"], a["height"], a["error"], a["abspath"]) == (b["width"], b["height"], b["error"],
                                                                       b["abspath"])
        assert [d["brand"] for d in a["detections"]] == [d["brand"] for d in b["detections"]]
        for da, db in zip(a["detections"], b["detections"], strict=True):
            assert da["box"] == pytest.approx(db["box"], abs=1e-4)
            assert da["similarity"] == pytest.approx(db["similarity"], abs=1e-4)
            assert [x["brand"] for x in da["alternatives"]] == [x["brand"] for x in db["alternatives"]]


def test_corrupt_file_gives_one_error_record_the_rest_goes_on(ray_local, registry, tmp_path, bad_images):
    pq = pytest.importorskip("pyarrow.parquet")
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(DEMO / "images" / "composite_1.jpg", folder / "composite_1.jpg")
    bad = bad_images(folder, kinds=["truncated_jpeg"])["truncated_jpeg"]
    # inputs from a CSV list file (paths relative to it), records to a folder of Parquet part files
    listing = tmp_path / "list.csv"
    listing.write_text("path\n" + "".join(f"mixed/{p.name}\n" for p in sorted(folder.iterdir())))
    _, output = detect(listing, "--registry", registry, "--out", tmp_path / "out_pq", "--engine", "ray",
                       "--format", "parquet", "--workers", "1")
    records = pq.read_table(tmp_path / "out_pq").to_pylist()
    assert [r["abspath"] for r in records] == sorted(os.path.abspath(p) for p in folder.iterdir())
    errors = [r for r in records if r["error"]]
    assert len(errors) == 1 and errors[0]["abspath"] == str(bad) and errors[0]["detections"] == []
    # one line naming the file as it was given, as the local engine writes it
    assert errors[0]["error"].startswith(f"{tmp_path / 'mixed' / bad.name}: ") and "\n" not in errors[0]["error"]
    assert all(r["detections"] and r["width"] for r in records if not r["error"])
    assert "2 images (1 failed)" in output


def test_resume_processes_only_the_missing_inputs(demo_runs, registry, tmp_path):
    _, full = demo_runs
    out = tmp_path / "partial.jsonl"
    lines = [json.dumps(r) for r in full]
    done = len(full) - 2
    # an interrupted run: all but 2 records whole, then one torn by the kill
    out.write_text("\n".join(lines[:done]) + "\n" + lines[done][: len(lines[done]) // 2])
    records, output = detect(DEMO / "images", "--registry", registry, "--out", out, "--engine", "ray", "--resume",
                             "--workers", "1")
    assert [r["abspath"] for r in records] == [r["abspath"] for r in full]  # each image once, in order
    assert records[:done] == full[:done]
    assert f"2 images (0 failed, {done} skipped as done)" in output
    assert [[d["brand"] for d in r["detections"]] for r in records] == [[d["brand"] for d in r["detections"]]
                                                                        for r in full]
