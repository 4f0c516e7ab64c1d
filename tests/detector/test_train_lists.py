from pathlib import Path

import pytest

from osld.detector.train import DetectorTrainConfig, _write_lists
from osld.errors import ConfigError


def _yolo_folder(root: Path, n: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        (root / "images" / f"im{i:03d}.jpg").write_bytes(b"")
        (root / "labels" / f"im{i:03d}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return root


def _synthetic_set(root: Path, n: int) -> Path:
    """A synthetic-style set with a data.yaml whose train split is its images/ folder."""
    synth = _yolo_folder(root, n)
    (synth / "data.yaml").write_text(f"path: {synth}\ntrain: images\nval: images\nnames:\n  0: logo\n")
    return synth / "data.yaml"


def _lines(path: Path) -> list[str]:
    return path.read_text().split()


@pytest.mark.parametrize("repeat", [1, 3])
def test_real_train_images_are_listed_repeat_times_and_val_never_in_train(tmp_path, repeat):
    synth = _synthetic_set(tmp_path / "synth", 5)
    real = _yolo_folder(tmp_path / "real", 40)
    cfg = DetectorTrainConfig(data=(str(synth),), out=str(tmp_path / "run"), real_dirs=(str(real),),
                              real_repeat=repeat)
    run = _write_lists(cfg).parent
    train, val = _lines(run / "train.txt"), _lines(run / "val.txt")
    real_train = [p for p in train if "/real/" in p]
    assert len(train) - len(real_train) == 5
    assert val and len(set(real_train)) + len(val) == 40
    assert len(real_train) == repeat * len(set(real_train))
    assert not set(val) & set(train)


def test_real_repeat_below_one_is_a_config_error(tmp_path):
    synth = _synthetic_set(tmp_path / "synth", 2)
    cfg = DetectorTrainConfig(data=(str(synth),), out=str(tmp_path / "run"), real_repeat=0)
    with pytest.raises(ConfigError, match="real_repeat"):
        _write_lists(cfg)
