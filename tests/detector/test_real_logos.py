import dataclasses
from pathlib import Path

import cv2
import numpy as np

from osld.data.real_logos import RealLogo, cut_real_logo, real_logo_boxes
from osld.data.synth import SynthConfig, render_scene, synthesize
from osld.data.yolo import cxcywh_to_xyxy, read_yolo_labels, yologo_split

MAGENTA = (255, 0, 255)


def _real_set(root: Path, n: int = 20) -> Path:
    """A YOLO folder of grey photos, each with one magenta 'logo' box labelled at a known place."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        img = np.full((120, 160, 3), 90, np.uint8)
        img[30:70, 40:100] = MAGENTA[::-1]  # BGR on disk
        cv2.imwrite(str(root / "images" / f"{i:05d}.png"), img)
        (root / "labels" / f"{i:05d}.txt").write_text(f"0 {70 / 160} {50 / 120} {60 / 160} {40 / 120}\n")
    return root


def test_only_the_train_part_of_a_real_set_is_cut_from(tmp_path):
    root = _real_set(tmp_path / "real")
    train, val = yologo_split(root)
    assert train and val  # the same split `osld train detector` holds out
    logos = real_logo_boxes([root])
    assert {r.image for r in logos} == set(train)


def test_a_cut_out_is_opaque_on_its_box_and_fades_outside(tmp_path):
    root = _real_set(tmp_path / "real", n=1)
    rgba = cut_real_logo(real_logo_boxes([root], val_fraction=0.0)[0])
    inside = rgba[..., 3] > 127
    ys, xs = np.nonzero(inside)
    assert (xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (60, 40)  # alpha > 0.5 is exactly the box
    assert (rgba[inside][:, :3] == MAGENTA).all()
    assert rgba[0, 0, 3] == 0 and rgba.shape[:2] > (40, 60)  # soft edge of photo context around it


def test_tiny_or_outside_boxes_are_skipped(tmp_path):
    root = _real_set(tmp_path / "real", n=1)
    image = next((root / "images").iterdir())
    assert cut_real_logo(RealLogo(image, (0.5, 0.5, 0.02, 0.02))) is None
    assert cut_real_logo(RealLogo(image, (1.5, 1.5, 0.2, 0.2))) is None


def test_pasted_real_logo_is_labelled_where_it_shows(tmp_path):
    root = _real_set(tmp_path / "real", n=1)
    rgba = cut_real_logo(real_logo_boxes([root], val_fraction=0.0)[0])
    cfg = dataclasses.replace(SynthConfig(), degrade=False, occlusion_p=0.0, closeup_p=0.0)
    for seed in range(8):
        image, boxes = render_scene([rgba], [], np.random.default_rng(seed), cfg, photo=[True])
        assert len(boxes) == 1
        magenta = (np.abs(image.astype(int) - MAGENTA).sum(axis=2) < 60)
        ys, xs = np.nonzero(magenta)
        shown = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
        tolerance = 2 + 0.05 * (shown[0, 2:] - shown[0, :2]).max()  # the soft edge's blend
        assert np.abs(boxes - shown).max() <= tolerance, (seed, boxes, shown)
        # a photo crop is never blown up past real_max_upscale (here its own 60 x 40 px box)
        assert boxes[0, 2] - boxes[0, 0] <= 60 * cfg.real_max_upscale * 1.5


def test_synthesize_pastes_real_cut_outs_and_keeps_old_scenes_without_them(tmp_path, logo_png):
    from osld.data.logos import CanonicalLogo

    root = _real_set(tmp_path / "real")
    cat = [CanonicalLogo(brand="b", source="test", path=logo_png(0))]
    cfg = dataclasses.replace(SynthConfig(), real_logo_p=1.0, empty_fraction=0.0, degrade=False, occlusion_p=0.0)
    synthesize(tmp_path / "mixed", cat, [], n=6, seed=1, cfg=cfg, progress=False, real_logos=real_logo_boxes([root]))
    magenta_scenes = 0
    for img in sorted((tmp_path / "mixed" / "images").glob("*.jpg")):
        pixels = cv2.cvtColor(cv2.imread(str(img)), cv2.COLOR_BGR2RGB)
        _, boxes = read_yolo_labels(tmp_path / "mixed" / "labels" / f"{img.stem}.txt")
        assert len(boxes)
        magenta_scenes += (np.abs(pixels.astype(int) - MAGENTA).sum(axis=2) < 90).sum() > 50
        assert (cxcywh_to_xyxy(boxes, pixels.shape[1], pixels.shape[0]) >= -1).all()
    assert magenta_scenes == 6
    # without real boxes (or at share 0) the same seed draws the same scenes as before the option existed
    synthesize(tmp_path / "plain", cat, [], n=3, seed=1, progress=False)
    synthesize(tmp_path / "zero", cat, [], n=3, seed=1, progress=False, real_logos=real_logo_boxes([root]))
    for a, b in zip(sorted((tmp_path / "plain" / "images").iterdir()), sorted((tmp_path / "zero" / "images").iterdir()),
                    strict=True):
        assert a.read_bytes() == b.read_bytes()
