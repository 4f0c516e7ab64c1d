"""`osld train detector --freeze N`: the entries handed to ultralytics name exactly the first N backbone blocks."""
from pathlib import Path

import pytest

from osld.detector.train import BACKBONE_BLOCKS, DetectorTrainConfig, frozen_layers, load_checkpoint, train_detector
from osld.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "detector.pt"


def _frozen(names: list[str], blocks: int) -> set[str]:
    """The parameters ultralytics' trainer freezes: a name containing any ``model.{entry}.`` prefix."""
    prefixes = [f"model.{entry}." for entry in frozen_layers(blocks) or []]
    return {n for n in names if any(p in n for p in prefixes)}


def test_freeze_names_the_first_blocks_of_the_backbone_and_nothing_else():
    names = list(load_checkpoint(SHIPPED)["state_dict"])
    frozen = _frozen(names, 14)
    blocks = {int(n.split(".")[3]) for n in frozen}
    assert blocks == set(range(14))
    assert frozen == {n for n in names if n.startswith("model.0.m.") and int(n.split(".")[3]) < 14}
    # the neck and head (layers 1..17) share digits with the block numbers; none may match
    assert not any(n.split(".")[1] != "0" for n in frozen)
    assert _frozen(names, 0) == set()
    assert len(_frozen(names, BACKBONE_BLOCKS)) > len(frozen)


@pytest.mark.parametrize("blocks", [-1, BACKBONE_BLOCKS + 1])
def test_freeze_outside_the_backbone_is_a_config_error(blocks):
    with pytest.raises(ConfigError, match="freeze"):
        frozen_layers(blocks)


def test_train_detector_refuses_a_bad_freeze_before_writing_anything(tmp_path):
    cfg = DetectorTrainConfig(data=(str(tmp_path / "missing.yaml"),), out=str(tmp_path / "run"),
                              freeze=BACKBONE_BLOCKS + 1)
    with pytest.raises(ConfigError, match="freeze"):
        train_detector(cfg)
    assert not (tmp_path / "run").exists()
