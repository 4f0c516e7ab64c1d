"""Averaging compact detector checkpoints of one lineage (the session-14 "model soup")."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from osld.detector.train import average_checkpoints, load_checkpoint  # noqa: E402
from osld.errors import CheckpointError, ConfigError  # noqa: E402


def _save(path, weight: float, extra_key: str | None = None, epochs: float = 1.0):
    state = {"conv.weight": torch.full((2, 3), weight, dtype=torch.float16),
             "bn.num_batches_tracked": torch.tensor(weight, dtype=torch.float16)}
    if extra_key:
        state[extra_key] = torch.zeros(1, dtype=torch.float16)
    torch.save({"state_dict": state, "model_yaml": "m.yaml", "epochs_total": epochs}, path)
    return path


def test_average_is_the_elementwise_mean_and_keeps_the_last_metadata(tmp_path):
    a, b = _save(tmp_path / "a.pt", 1.0, epochs=12.0), _save(tmp_path / "b.pt", 2.0, epochs=13.0)
    out = average_checkpoints([a, b], tmp_path / "soup.pt")

    soup = load_checkpoint(out)  # weights_only: plain tensors and strings only
    assert torch.equal(soup["state_dict"]["conv.weight"], torch.full((2, 3), 1.5, dtype=torch.float16))
    assert soup["state_dict"]["conv.weight"].dtype == torch.float16
    assert soup["epochs_total"] == 13.0
    assert json.loads(soup["averaged_from"]) == ["a.pt", "b.pt"]


def test_different_architectures_and_a_single_checkpoint_are_refused(tmp_path):
    a, b = _save(tmp_path / "a.pt", 1.0), _save(tmp_path / "b.pt", 2.0, extra_key="head.bias")
    with pytest.raises(CheckpointError, match="architecture"):
        average_checkpoints([a, b], tmp_path / "soup.pt")
    with pytest.raises(ConfigError, match="at least two"):
        average_checkpoints([a], tmp_path / "soup.pt")
    assert not (tmp_path / "soup.pt").exists()
