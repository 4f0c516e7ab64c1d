"""Training renders: real boxes are cut with the margin the training config asks for."""

import cv2
import numpy as np
import pytest

from osld.embedder.data import SampleRenderer


def _crop_widths(photo_path, max_margin: float, n: int = 40) -> list[int]:
    renderer = SampleRenderer([], size=64, max_margin=max_margin)
    box = (100.0, 100.0, 200.0, 160.0)  # 100 x 60 inside a 400 x 300 photo
    return [renderer.render_crop(photo_path, box, np.random.default_rng(seed)).shape[1] for seed in range(n)]


def test_real_box_margins_follow_max_margin(tmp_path):
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8))
    tight, loose = _crop_widths(photo, 0.1), _crop_widths(photo, 0.3)
    # -5 % to +5 % of the box width on each side: at most 10 pixels narrower or wider than the box
    assert all(90 <= w <= 110 for w in tight), tight
    assert max(loose) > 115  # the default (-5 % to +25 % a side) reaches far wider crops
    assert np.mean(tight) < np.mean(loose)


@pytest.mark.parametrize("max_margin", [-0.1, 1.5])
def test_margin_outside_zero_to_one_is_refused(max_margin):
    with pytest.raises(ValueError, match="max_margin"):
        SampleRenderer([], max_margin=max_margin)


def test_batches_carry_background_patches_of_the_negative_photos_only(tmp_path):
    from osld.embedder.data import BACKGROUND, BalancedBatchSampler, ClassDataset, Source

    photos = {}
    for name, value in (("logo_scene", 250), ("street", 10)):  # a bright scene with logos, a dark one without
        photos[name] = tmp_path / f"{name}.png"
        cv2.imwrite(str(photos[name]), np.full((120, 160, 3), value, np.uint8))
    renderer = SampleRenderer([photos["logo_scene"]], size=32, negatives=[photos["street"]])
    dataset = ClassDataset([[Source(photos["logo_scene"], (10.0, 10.0, 60.0, 50.0))]] * 4, renderer)
    plain = next(iter(BalancedBatchSampler(4, 0, classes_per_batch=4, samples_per_class=2, seed=3)))
    mixed = next(iter(BalancedBatchSampler(4, 0, classes_per_batch=4, samples_per_class=2, seed=3,
                                           background_samples=3)))
    assert mixed[:len(plain)] == plain and [c for c, _ in mixed[len(plain):]] == [BACKGROUND] * 3
    for key in mixed[len(plain):]:
        x, label = dataset[key]
        assert label == BACKGROUND and x.shape == (3, 32, 32)
        assert x.mean() < 100  # cut from the dark photo without logos (photometric jitter moves it a little)
    with pytest.raises(ValueError, match="without logos"):
        SampleRenderer([photos["logo_scene"]], size=32).render_background(np.random.default_rng(0))


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_chrome_share_sets_how_many_canonical_renders_are_chrome(tmp_path, monkeypatch, share):
    import osld.data.surfaces as surfaces

    chromed = []
    real_chrome = surfaces.SURFACES["chrome"]

    def counting_chrome(rgba, rng):
        chromed.append(1)
        return real_chrome(rgba, rng)

    monkeypatch.setitem(surfaces.SURFACES, "chrome", counting_chrome)
    logo = np.zeros((60, 120, 4), np.uint8)
    logo[15:45, 20:100] = (30, 30, 200, 255)  # an opaque bar on a transparent ground
    cv2.imwrite(str(tmp_path / "logo.png"), logo)
    renderer = SampleRenderer([], size=32, chrome_share=share)
    n = 100
    for seed in range(n):
        assert renderer.render_canonical(tmp_path / "logo.png", np.random.default_rng(seed)).ndim == 3
    assert abs(len(chromed) / n - share) < 0.1, (len(chromed), n)


def test_chrome_share_past_the_other_surfaces_is_refused():
    with pytest.raises(ValueError, match="chrome_share"):
        SampleRenderer([], chrome_share=0.7)


@pytest.mark.parametrize("real_fraction, n_real_classes", [(0.25, 4), (0.5, 8), (0.0, 0)])
def test_real_fraction_sets_how_many_classes_per_batch_are_real_crops(real_fraction, n_real_classes):
    from osld.embedder.data import BalancedBatchSampler

    sampler = iter(BalancedBatchSampler(100, 40, classes_per_batch=16, samples_per_class=2,
                                        real_fraction=real_fraction, seed=1))
    for _ in range(3):
        classes = {c for c, _ in next(sampler)}
        assert len(classes) == 16 and sum(c >= 100 for c in classes) == n_real_classes


@pytest.mark.parametrize("real_fraction, n_real", [(1.5, 40), (-0.1, 40), (0.5, 3)])
def test_real_fraction_out_of_reach_is_a_config_error(real_fraction, n_real):
    from osld.embedder.data import BalancedBatchSampler
    from osld.errors import ConfigError

    with pytest.raises(ConfigError, match="real_fraction"):
        BalancedBatchSampler(100, n_real, classes_per_batch=16, real_fraction=real_fraction)
