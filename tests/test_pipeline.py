"""End to end on the shipped demo: the shipped models, the demo registry, the demo photos."""

import csv
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
REAL_PREFIX = "photo_"  # the real photos (datasets/make_demo.py); the other demo images are composites


def _read_expected() -> dict[str, set[str]]:
    # what the demo images show (file stem -> brands that must be named in it), as datasets/make_demo.py wrote it
    with open(DEMO / "expected.csv", newline="", encoding="utf-8") as f:
        return {Path(row["image"]).stem: set(row["brands"].split()) for row in csv.DictReader(f)}


EXPECTED = _read_expected()


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


def readme_demo_claim() -> dict[str, int]:
    """README's demo row, as ``benchmarks/demo.py --write`` writes it, e.g. "demo (17 images: 8 real photos, 9
    composites; 25 logos; 45-brand registry) | at least 19 of 25 logos named (8 of 8 in the real photos), no wrong
    brand".

    The README holds the numbers (how many logos at least are named); this test holds the README to them."""
    row = next(line for line in README.read_text().splitlines() if line.startswith("| demo ("))
    m = re.search(r"\| demo \((?P<images>\d+) images: (?P<real_images>\d+) real photos, \d+ composites; (?P<logos>\d+) "
                  r"logos; \d+-brand registry\) \| at least (?P<at_least>\d+) of (?P<of>\d+) logos named \("
                  r"(?P<real_at_least>\d+) of (?P<real_of>\d+) in the real photos\), no wrong brand \|", row)
    assert m, f"README demo row not in the expected form: {row}"
    claim = {k: int(v) for k, v in m.groupdict().items()}
    assert claim["logos"] == claim["of"]
    return claim


def _named_missed(results, max_wrong: int = 0, expected: dict[str, set[str]] = EXPECTED) -> tuple[int, int]:
    assert set(results) == set(expected)
    named = missed = 0
    wrong: list[str] = []
    for stem, brands in expected.items():
        found = set(results[stem].detections.brand) - {UNKNOWN}
        wrong += [f"{stem}: {b}" for b in sorted(found - brands)]
        named += len(found & brands)
        missed += len(brands - found)
    assert len(wrong) <= max_wrong, f"named brands the images do not show: {wrong}"
    return named, missed


def test_demo_names_the_right_brands(results):
    # defaults (registry-calibrated threshold): never a wrong brand, at least README's counts named
    named, _ = _named_missed(results)
    real = {stem: r for stem, r in results.items() if stem.startswith(REAL_PREFIX)}
    real_named, _ = _named_missed(real, expected={stem: EXPECTED[stem] for stem in real})
    claim = readme_demo_claim()
    actual = {"images": len(EXPECTED), "real_images": len(real), "of": sum(map(len, EXPECTED.values())),
              "real_of": sum(len(EXPECTED[stem]) for stem in real)}
    assert {k: claim[k] for k in actual} == actual, "README's demo size is stale: python benchmarks/demo.py --write"
    # a better model may name more than the README claims (update the README then); never fewer
    assert named >= claim["at_least"], f"{named} of {claim['of']} demo logos named; README claims {claim['at_least']}"
    assert real_named >= claim["real_at_least"], (
        f"{real_named} of {claim['real_of']} logos named in the real photos; README claims {claim['real_at_least']}")


def test_demo_min_sim_override_names_nearly_all(pipe, results):
    # an explicit --min-sim (and no confidence floor) overrides the calibration: on the composites every logo named
    # but at most four (the session-19 embedder ranks the drawn bmw emblem first but at 0.36, and 0.41 in the car
    # collage, renault at 0.22, and honda second in the collage; the session-5 one missed three), at the
    # price of precision: at most one junk box named (the calibrated defaults above allow none). Real photos hold
    # look-alikes of registered brands (the banner's "idtek" reads as intel at 0.45), so
    # there the loose threshold is only held to naming everything the defaults named.
    loose = Pipeline(pipe.detector, pipe.embedder, pipe.registry, MatchConfig(min_sim=0.45, min_conf=0.0),
                     naming=pipe.naming)
    loose_results = {r.path.stem: r for r in loose.run(sorted((DEMO / "images").iterdir()))}
    composites = {stem: r for stem, r in loose_results.items() if not stem.startswith(REAL_PREFIX)}
    named, missed = _named_missed(composites, max_wrong=1, expected={stem: EXPECTED[stem] for stem in composites})
    assert missed <= 4, f"{missed} of {named + missed} composite demo logos were not named"
    for stem, r in loose_results.items():
        lost = set(results[stem].detections.brand) - set(r.detections.brand) - {UNKNOWN}
        assert not lost, f"{stem}: named at the defaults but not with --min-sim 0.45: {lost}"


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


def test_every_result_has_one_embedding_row_per_box(pipe):
    """Boxes too small to embed get rows of zeros, whether or not the same photo has larger boxes."""
    path = DEMO / "images" / "composite_1.jpg"
    boxes = Pipeline(pipe.detector, pipe.embedder, pipe.registry, MatchConfig(keep_all=True))(path).xyxy
    sides = (boxes[:, 2:] - boxes[:, :2]).min(axis=1)
    assert len(sides) >= 2 and sides.min() < sides.max()
    for cut in (int(sides.max()) + 1, int(np.median(sides)) + 1):  # no box embedded; only the larger ones
        d = Pipeline(pipe.detector, pipe.embedder, pipe.registry, MatchConfig(keep_all=True, min_crop_px=cut))(path)
        small = ((d.xyxy[:, 2:] - d.xyxy[:, :2]) < cut).any(axis=1)
        assert d.emb is not None and d.emb.shape == (len(d), pipe.embedder.dim)
        assert small.any() and not d.emb[small].any()
        assert np.allclose(np.linalg.norm(d.emb[~small], axis=1), 1, atol=1e-3)


def test_naming_min_side_leaves_smaller_regions_unnamed(pipe, results):
    """``NamingDefaults.min_side_px`` raises the embedding floor: a named logo under it becomes unknown, a larger
    one keeps its brand."""
    from dataclasses import replace

    stem, det = next((s, r.detections) for s, r in sorted(results.items())
                     if len(r.detections) and r.detections.is_known.any() and r.image is None)
    named = det[det.is_known]
    sides = (named.xyxy[:, 2:] - named.xyxy[:, :2]).min(axis=1)
    cut = int(sides.min()) + 1
    path = DEMO / "images" / results[stem].path.name
    strict = Pipeline(pipe.detector, pipe.embedder, pipe.registry, naming=replace(pipe.naming, min_side_px=cut))
    after = strict(path)
    assert not any(b == named.brand[sides.argmin()] and (xy[2:] - xy[:2]).min() < cut
                   for b, xy in zip(after.brand, after.xyxy, strict=True))
    big = set(named.brand[sides >= cut])
    assert big <= set(after.brand)


def test_array_input_and_no_registry(pipe):
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(DEMO / "images" / "composite_1.jpg"))
    bare = Pipeline(pipe.detector, pipe.embedder, registry=None)
    det = bare(img)
    assert len(det) >= 1 and set(det.brand) == {UNKNOWN}
    assert det.metadata["width"] == img.shape[1]


def test_crop_pads_only_the_sides_on_the_image_border():
    from osld.pipeline import crop_regions

    img = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    whole, inner, left = crop_regions(img, np.array([[0, 0, 200, 100], [50, 20, 100, 60], [0, 20, 40, 60]],
                                                    np.float32), 0.0, border_pad=0.05)
    assert whole.shape == (110, 220, 3)  # 5 % of the box on all four sides
    assert np.array_equal(whole[5:-5, 10:-10], img) and np.array_equal(whole[:5, 10:-10], np.repeat(img[:1], 5, 0))
    assert np.array_equal(inner, img[20:60, 50:100])  # inside the photo: the box as it is
    assert left.shape == (40, 42, 3) and np.array_equal(left[:, 2:], img[20:60, 0:40])
    grown = crop_regions(img, np.array([[50, 20, 100, 60]], np.float32), 0.1, border_pad=0.05)[0]
    assert grown.shape == (48, 60, 3)  # the margin comes from the photo where there is one


def test_whole_frame_is_one_more_region_last():
    from osld.pipeline import with_whole_frame
    from osld.types import Detections

    frame = [0.0, 0.0, 200.0, 100.0]
    alone = with_whole_frame(Detections.empty(image="x"), 200, 100, 0.1)
    assert alone.xyxy.tolist() == [frame] and np.isclose(alone.score[0], 0.1) and alone.metadata == {"image": "x"}
    inner = Detections(np.array([[50, 20, 100, 60]], np.float32), np.array([0.9], np.float32))
    both = with_whole_frame(inner, 200, 100, 0.1)
    assert both.xyxy.tolist() == [[50, 20, 100, 60], frame] and np.allclose(both.score, [0.9, 0.1])
    covering = Detections(np.array([[5, 0, 200, 95]], np.float32), np.array([0.6], np.float32))
    # added even where a box covers it (IoU 0.95): calibration.decide keeps the more confident of the two
    assert with_whole_frame(covering, 200, 100, 0.1).xyxy.tolist() == [[5, 0, 200, 95], frame]


# measured 2026-12-06 (session 31 pair, frame_score 0.5): 40 of the 120 close-ups named with it, 33 without, 0 wrong
MIN_GAIN = 3


@pytest.mark.shared
def test_whole_frame_names_close_ups_the_detector_misses(pipe):
    """Real car-emblem close-ups of the demo registry's brands: with the whole image as one more region (the
    shipped ``naming.json``) more are named, and hardly any more wrongly, than with it off."""
    from osld.embedder.evaluate import vehicle_queries
    from tests._shared import shared_path

    assert pipe.naming.frame_score
    brands, photos = set(pipe.registry.brands()), {}
    for brand, path in vehicle_queries(shared_path("real", "vehicle_logos")):
        if brand in brands and sum(b == brand for b in photos.values()) < 10:
            photos[Path(path)] = brand

    def named_wrong(p: Pipeline) -> tuple[int, int]:
        named = wrong = 0
        for r in p.run(list(photos)):
            found = set(r.detections.brand) - {UNKNOWN}
            named += photos[r.path] in found
            wrong += bool(found - {photos[r.path]})
        return named, wrong

    on = named_wrong(pipe)
    off = named_wrong(Pipeline(pipe.detector, pipe.embedder, pipe.registry, MatchConfig(frame_score=0.0)))
    assert on[0] >= off[0] + MIN_GAIN and on[1] <= off[1] + 1, f"(named, wrong) with {on}, without {off}"


def test_whole_frame_is_reported_only_when_named(pipe, results):
    """The whole-image region is not a detection: unnamed, it must not show up as an ``unknown`` box."""
    def whole(d) -> np.ndarray:
        return np.all(np.abs(d.xyxy - [0, 0, d.metadata["width"], d.metadata["height"]]) < 1, axis=1)

    probe = Pipeline(pipe.detector, pipe.embedder, pipe.registry, MatchConfig(keep_all=True))
    added = [p for p in sorted((DEMO / "images").iterdir()) if whole(probe(p)).any()]
    assert added  # some demo photos do get the region (none of their boxes covers the frame)
    for stem, r in results.items():
        d = r.detections
        assert not (whole(d) & (d.brand == UNKNOWN)).any(), stem


def test_decide_kept_reports_what_the_pipeline_reports(pipe, results):
    """``osld evaluate`` runs with ``keep_all`` and applies the thresholds afterwards: it must see what ``osld detect``
    shows (the whole-image region once, and only when named)."""
    kept = Pipeline(pipe.detector, pipe.embedder, pipe.registry, MatchConfig(keep_all=True), naming=pipe.naming)
    for r in kept.run(sorted((DEMO / "images").iterdir())):
        ours, theirs = kept.decide_kept(r.detections), results[r.path.stem].detections
        assert sorted(ours.brand.tolist()) == sorted(theirs.brand.tolist()), r.path.stem
        assert np.allclose(np.sort(ours.xyxy, axis=0), np.sort(theirs.xyxy, axis=0), atol=1e-3), r.path.stem
