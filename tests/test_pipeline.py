"""End to end on the shipped demo: the shipped models, the demo registry, the demo photos."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from osld import Pipeline, Registry
from osld.pipeline import MatchConfig
from osld.types import UNKNOWN

DEMO = Path(__file__).resolve().parents[1] / "datasets" / "demo"
README = DEMO.parents[1] / "README.md"
# what the demo photos show (file stem -> brands that must be named in it)
EXPECTED = {
    "car_toyota": {"toyota"},
    "car_volkswagen": {"volkswagen"},
    "car_honda": {"honda"},
    "car_bmw": {"bmw"},
    "car_hyundai": {"hyundai"},
    "car_renault": {"renault"},
    "collage_cars": {"toyota", "volkswagen", "honda", "bmw"},
    "composite_1": {"github", "python", "spotify"},
    "composite_2": {"docker", "firefox", "slack", "nvidia"},
}


@pytest.fixture(scope="module")
def demo_registry(tmp_path_factory):
    # a copy, so the test never writes an index into the repository
    root = tmp_path_factory.mktemp("demo") / "logos"
    shutil.copytree(DEMO / "logos", root, ignore=shutil.ignore_patterns(".osld"))
    return root


@pytest.fixture(scope="module")
def pipe(demo_registry):
    return Pipeline.from_pretrained(registry=demo_registry)


@pytest.fixture(scope="module")
def results(pipe):
    paths = sorted((DEMO / "images").iterdir())
    return {r.path.stem: r for r in pipe.run(paths)}


def readme_demo_claim() -> tuple[int, int, int]:
    """README's demo row, e.g. "at least 16 of 17 logos named, no wrong brand" over "9 images": (16, 17, 9).

    The README holds the one number (how many logos at least are named); this test holds the README to it."""
    row = next(line for line in README.read_text().splitlines() if line.startswith("| demo ("))
    m = re.search(r"\| demo \((\d+) images, (\d+) logos, \d+-brand registry\) \| at least (\d+) of (\d+) logos named, "
                  r"no wrong brand \|", row)
    assert m, f"README demo row not in the expected form: {row}"
    n_images, n_logos, at_least, of = map(int, m.groups())
    assert n_logos == of
    return at_least, of, n_images


def _named_missed(results, max_wrong: int = 0) -> tuple[int, int]:
    assert set(results) == set(EXPECTED)
    named = missed = 0
    wrong: list[str] = []
    for stem, brands in EXPECTED.items():
        found = set(results[stem].detections.brand) - {UNKNOWN}
        wrong += [f"{stem}: {b}" for b in sorted(found - brands)]
        named += len(found & brands)
        missed += len(brands - found)
    assert len(wrong) <= max_wrong, f"named brands the images do not show: {wrong}"
    return named, missed


def test_demo_names_the_right_brands(results):
    # defaults (registry-calibrated threshold): never a wrong brand, at least README's count named
    named, _ = _named_missed(results)
    at_least, of, n_images = readme_demo_claim()
    assert (of, n_images) == (sum(map(len, EXPECTED.values())), len(EXPECTED)), "README's demo size is stale"
    # a better model may name more than the README claims (update the README then); never fewer
    assert named >= at_least, f"{named} of {of} demo logos named; README claims at least {at_least}"


def test_demo_min_sim_override_names_nearly_all(pipe):
    # an explicit --min-sim (and no confidence floor) overrides the calibration: every demo logo named but at most
    # two, at the price of precision: at most one junk box named (the calibrated defaults above allow none)
    loose = Pipeline(pipe.detector, pipe.embedder, pipe.registry, MatchConfig(min_sim=0.45, min_conf=0.0),
                     naming=pipe.naming)
    named, missed = _named_missed({r.path.stem: r for r in loose.run(sorted((DEMO / "images").iterdir()))},
                                  max_wrong=1)
    assert missed <= 2, f"{missed} of {named + missed} demo logos were not named"


def test_demo_boxes_are_in_original_pixels(results):
    from PIL import Image

    for r in results.values():
        w, h = Image.open(r.path).size
        d = r.detections
        assert (d.metadata["width"], d.metadata["height"]) == (w, h)
        assert ((d.xyxy[:, 2] <= w + 1e-3) & (d.xyxy[:, 3] <= h + 1e-3) & (d.xyxy >= 0).all(axis=1)).all()
        assert (d.xyxy[:, 2:] > d.xyxy[:, :2]).all()
        assert d.emb is not None and np.allclose(np.linalg.norm(d.emb[d.is_known], axis=1), 1, atol=1e-3)


def test_unregistered_brand_is_unknown(tmp_path, pipe):
    root = tmp_path / "reg"
    shutil.copytree(DEMO / "logos" / "github", root / "github")
    shutil.copytree(DEMO / "logos" / "python", root / "python")
    only_two = Pipeline(pipe.detector, pipe.embedder, Registry(root, pipe.embedder))
    det = only_two(DEMO / "images" / "car_toyota.jpg")
    assert len(det) >= 1
    assert set(det.brand) == {UNKNOWN}
    assert all(alt[0][0] in {"github", "python"} for alt in det.alternatives if alt)


def test_registering_a_brand_makes_it_found(tmp_path, pipe):
    root = tmp_path / "reg"
    shutil.copytree(DEMO / "logos" / "github", root / "github")
    reg = Registry(root, pipe.embedder)
    p = Pipeline(pipe.detector, pipe.embedder, reg)
    assert "toyota" not in set(p(DEMO / "images" / "car_toyota.jpg").brand)
    reg.add("toyota", [DEMO / "logos" / "toyota"])
    assert "toyota" in set(p(DEMO / "images" / "car_toyota.jpg").brand)


def test_array_input_and_no_registry(pipe):
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(DEMO / "images" / "composite_1.jpg"))
    bare = Pipeline(pipe.detector, pipe.embedder, registry=None)
    det = bare(img)
    assert len(det) >= 1 and set(det.brand) == {UNKNOWN}
    assert det.metadata["width"] == img.shape[1]
