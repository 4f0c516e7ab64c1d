import dataclasses

import numpy as np
import pytest

from osld.data.synth import SynthConfig, background_photos, render_scene, synthesize, write_yolo_label
from osld.data.yolo import cxcywh_to_xyxy, read_yolo_labels
from osld.eval.metrics import box_iou
from tests.conftest import draw_logo


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_box_is_the_tight_box_of_the_pasted_alpha(seed):
    cfg = dataclasses.replace(SynthConfig(), degrade=False, min_rel_size=0.2, occlusion_p=0.0, low_contrast_p=0.0,
                              surface_p=0.0, board_p=0.0)
    logo = draw_logo(seed, size=128)
    with_logo, boxes = render_scene([logo], [], np.random.default_rng(seed), cfg)
    without, none = render_scene([], [], np.random.default_rng(seed), cfg)
    assert len(none) == 0
    changed = np.abs(with_logo.astype(int) - without.astype(int)).max(axis=2) > 0
    assert len(boxes) == 1
    ys, xs = np.nonzero(changed)
    visible = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    assert box_iou(boxes, visible)[0, 0] > 0.95


@pytest.mark.parametrize("seed", range(4))
def test_a_logo_on_a_board_is_boxed_alone(seed):
    """The board and its text change the photo, but the label goes round the logo only (as real labels do)."""
    cfg = dataclasses.replace(SynthConfig(), degrade=False, min_rel_size=0.3, occlusion_p=0.0, closeup_p=0.0,
                              border_cut_p=0.0, board_p=1.0)
    with_logo, boxes = render_scene([draw_logo(seed, size=128)], [], np.random.default_rng(seed), cfg)
    without, _ = render_scene([], [], np.random.default_rng(seed), cfg)
    ys, xs = np.nonzero(np.abs(with_logo.astype(int) - without.astype(int)).max(axis=2) > 0)
    board = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    assert len(boxes) == 1
    (x1, y1, x2, y2), (bx1, by1, bx2, by2) = boxes[0], board
    assert bx1 <= x1 and by1 <= y1 and x2 <= bx2 and y2 <= by2
    assert (x2 - x1) * (y2 - y1) < 0.6 * (bx2 - bx1) * (by2 - by1)


def test_board_carries_the_logo_and_text():
    from osld.data.boards import on_board

    logo = draw_logo(2, size=96)
    board = on_board(logo, np.random.default_rng(5))
    assert board.dtype == np.uint8 and board.shape[2] == 5
    on_logo, on_board_ = board[..., 4] > 128, board[..., 3] > 128
    assert (on_logo & ~on_board_).sum() == 0  # the logo lies on the board
    assert 0.5 * (logo[..., 3] > 128).sum() < on_logo.sum() < 0.6 * on_board_.sum()
    # text and board colour: the board is not one flat colour outside the logo
    rest = board[on_board_ & ~on_logo][:, :3].astype(int)
    assert (np.abs(rest - np.median(rest, axis=0)).max(axis=1) > 60).mean() > 0.01


def test_synthesize_writes_matching_yolo_files(tmp_path, logo_png):
    from osld.data.logos import CanonicalLogo

    cat = [CanonicalLogo(brand=f"b{i}", source="test", path=logo_png(i)) for i in range(3)]
    yaml_path = synthesize(tmp_path / "ds", cat, [], n=6, seed=3, progress=False)
    images = sorted((tmp_path / "ds" / "images").glob("*.jpg"))
    assert len(images) == 6 and yaml_path.exists()
    first = {p.name: p.read_bytes() for p in images}
    # resumable and reproducible: deleting a file and re-running regenerates the same bytes
    images[2].unlink()
    synthesize(tmp_path / "ds", cat, [], n=6, seed=3, progress=False)
    assert images[2].read_bytes() == first[images[2].name]
    for img in images:
        cls, boxes = read_yolo_labels(tmp_path / "ds" / "labels" / (img.stem + ".txt"))
        assert (cls == 0).all() and ((boxes >= 0) & (boxes <= 1)).all()


def test_yolo_label_round_trip(tmp_path):
    boxes = np.array([[10, 20, 50, 80], [0, 0, 640, 480]], np.float32)
    write_yolo_label(tmp_path / "a.txt", boxes, 640, 480)
    _, back = read_yolo_labels(tmp_path / "a.txt")
    np.testing.assert_allclose(cxcywh_to_xyxy(back, 640, 480), boxes, atol=1e-2)


def test_scenes_cover_tiny_to_frame_filling_logos():
    cfg = dataclasses.replace(SynthConfig(), degrade=False, occlusion_p=0.0)
    rel = []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        image, boxes = render_scene([draw_logo(seed, size=96)], [], rng, cfg)
        side = max(image.shape[:2])
        rel += [max(b[2] - b[0], b[3] - b[1]) / side for b in boxes]
    assert min(rel) < 0.05 and max(rel) > 0.5  # small logos and close-ups both occur


@pytest.mark.parametrize("surface", ["cylinder", "fabric", "chrome", "sign"])
def test_surfaces_keep_a_visible_logo(surface):
    from osld.data.surfaces import SURFACES

    logo = draw_logo(1, size=96)
    out = SURFACES[surface](logo, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape[2] == 4
    assert (out[..., 3] > 128).sum() > 0.3 * (logo[..., 3] > 128).sum()


@pytest.mark.parametrize("fraction, empty_expected", [(1.0, True), (0.0, False)])
def test_synth_cli_empty_fraction(tmp_path, logo_png, scene_images, fraction, empty_expected):
    from typer.testing import CliRunner

    from osld.cli import app

    logos = tmp_path / "logos"
    logo_png(0, logos / "acme.png")
    (logos / "manifest.csv").write_text("brand,source,path\nacme,test,acme.png\n")
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("")
    scene_images(2, tmp_path / "bg")
    out = tmp_path / "ds"
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--n", "8", "--logos", str(logos), "--backgrounds",
                                      str(tmp_path / "bg"), "--heldout", str(heldout),
                                      "--empty-fraction", str(fraction)])
    assert result.exit_code == 0, result.output
    labels = sorted((out / "labels").glob("*.txt"))
    assert len(labels) == 8
    assert all((p.stat().st_size == 0) == empty_expected for p in labels)


def _badge() -> np.ndarray:
    """A blue disc with a white bar across it: a two-colour logo like many car badges."""
    yy, xx = np.mgrid[:96, :96]
    logo = np.zeros((96, 96, 4), np.uint8)
    logo[(xx - 48) ** 2 + (yy - 48) ** 2 < 40**2] = (30, 60, 200, 255)
    logo[40:56, 20:77, :3] = 255
    return logo


def test_chrome_is_grey_metal_with_the_logo_in_relief():
    import cv2

    from osld.data.surfaces import chrome

    logo = _badge()
    inside = logo[..., 3] > 0
    saturation, edge, flat = [], [], []
    for seed in range(20):
        out = chrome(logo, np.random.default_rng(seed))
        assert out.shape == logo.shape and (out[..., 3] == logo[..., 3]).all()  # same silhouette
        saturation.append(cv2.cvtColor(out[..., :3], cv2.COLOR_RGB2HSV)[..., 1][inside].mean())
        grey = cv2.cvtColor(out[..., :3], cv2.COLOR_RGB2GRAY).astype(np.float32)
        gy, gx = np.gradient(grey)
        magnitude = np.hypot(gx, gy)
        edge.append(magnitude[38:42, 30:66].mean())  # across the bar's top edge, inside the disc
        flat.append(magnitude[66:70, 40:56].mean())  # the disc's interior, far from any edge
    assert np.median(saturation) < 60  # metal, not the blue paint (kept on some badges only)
    assert np.mean(edge) > 2 * np.mean(flat)  # the bar stands out of the disc as a bevel


def test_scenes_never_use_the_validation_backgrounds(tmp_path, logo_png, scene_images, monkeypatch):
    """The quarter of the backgrounds that benchmarks count false alarms on is never rendered into training scenes."""
    import osld.data.synth as synth_mod
    from osld.data.logos import CanonicalLogo

    photos = scene_images(40, tmp_path / "bg", size=(64, 48))
    train, val = background_photos([tmp_path / "bg"], "train"), background_photos([tmp_path / "bg"], "val")
    assert sorted(train + val) == photos and val and train
    assert background_photos([tmp_path / "bg"], "val") == val  # by file name: the same split every run
    loaded: list = []
    real_load = synth_mod.load_image
    monkeypatch.setattr(synth_mod, "load_image", lambda p: loaded.append(p) or real_load(p))
    synthesize(tmp_path / "ds", [CanonicalLogo(brand="b", source="test", path=logo_png(0))], [tmp_path / "bg"], n=40,
               seed=0, progress=False)
    assert loaded and not set(loaded) & set(val)


def test_a_badge_logo_keeps_its_design_as_chrome():
    """A disc-shaped logo raised as a whole was a blank chrome disc, the same for every such brand."""
    from osld.data.surfaces import chrome

    badge = _badge()
    plain = badge.copy()
    plain[..., :3] = badge[60, 48, :3]  # the same disc without the bar
    for seed in range(20):
        with_bar, without = (chrome(x, np.random.default_rng(seed)).astype(int) for x in (badge, plain))
        assert np.abs(with_bar - without).mean() > 1.0, seed


def test_one_colour_print_of_a_badge_knocks_out_its_design():
    from osld.data.augment import one_colour_ink, recolor

    badge = _badge()
    disc = badge[..., 3] > 127
    for seed in range(10):
        ink = one_colour_ink(badge, np.random.default_rng(seed)) > 127
        assert 0.05 < ink.sum() / disc.sum() < 0.95 and not (ink & ~disc).any()
    l_shape = np.zeros((64, 64, 4), np.uint8)
    l_shape[8:56, 8:20] = l_shape[44:56, 8:56] = (200, 30, 30, 255)  # an outline that is itself the logo
    assert (one_colour_ink(l_shape, np.random.default_rng(0)) == l_shape[..., 3]).all()
    # every flat-colour recolouring of the badge still shows the bar
    for seed in range(40):
        out = recolor(badge, np.random.default_rng(seed))
        shown = out[..., 3] > 127
        assert shown.sum() < disc.sum() or len(np.unique(out[shown][:, :3], axis=0)) > 1, seed


def test_chrome_share_makes_frame_filling_metal_badges():
    """--closeup-share 1 --chrome-share 1: each scene is one logo filling most of the frame, as grey metal (the
    car-emblem photos the naming benchmark holds), mostly not the badge's blue paint."""
    import cv2

    cfg = dataclasses.replace(SynthConfig(), degrade=False, occlusion_p=0.0, low_contrast_p=0.0, board_p=0.0,
                              closeup_p=1.0, chrome_p=1.0)
    saturation = []
    for seed in range(12):
        with_logo, boxes = render_scene([_badge(), _badge()], [], np.random.default_rng(seed), cfg)
        without, _ = render_scene([], [], np.random.default_rng(seed), cfg)
        assert len(boxes) == 1
        side = max(boxes[0][2] - boxes[0][0], boxes[0][3] - boxes[0][1]) / max(with_logo.shape[:2])
        assert side > 0.4
        changed = np.abs(with_logo.astype(int) - without.astype(int)).max(axis=2) > 0
        saturation.append(np.median(cv2.cvtColor(with_logo, cv2.COLOR_RGB2HSV)[..., 1][changed]))
    assert np.median(saturation) < 60  # metal; some badges keep their paint, as in chrome()
