"""Checkpoints are loaded without running code (``weights_only=True``) and fail in one line."""

import pickle

import pytest

from osld.errors import CheckpointError


class _Planted:
    """A pickle that would create a file when unpickled with ``weights_only=False``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path, marker):
    import torch

    torch.save({"model": _Planted(marker), "state_dict": _Planted(marker), "config": "{}"}, path)


@pytest.mark.parametrize("module", ["osld.detector.train", "osld.embedder.train"])
def test_planted_checkpoint_is_refused_without_running_code(tmp_path, module):
    import importlib

    load_checkpoint = importlib.import_module(module).load_checkpoint
    ckpt, marker = tmp_path / "last.pt", tmp_path / "pwned"
    _plant(ckpt, marker)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ckpt)
    assert not marker.exists()
    assert "\n" not in str(err.value) and str(ckpt) in str(err.value)


@pytest.mark.parametrize("module", ["osld.detector.train", "osld.embedder.train"])
@pytest.mark.parametrize("content", [b"", b"not a checkpoint", pickle.dumps([1, 2, 3])])
def test_garbage_checkpoint_is_one_line_error(tmp_path, module, content):
    import importlib

    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        importlib.import_module(module).load_checkpoint(path)
    assert "\n" not in str(err.value)


def test_embedder_resume_from_bad_checkpoint_prints_one_line(tmp_path):
    from typer.testing import CliRunner

    from osld.cli import app

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"garbage")
    result = CliRunner().invoke(app, ["train", "embedder", "--out", str(tmp_path / "run"), "--resume",
                                      "--init", str(tmp_path / "run" / "last.pt"), "--max-minutes", "0"])
    assert result.exit_code == 1
    assert "not a loadable osld embedder checkpoint" in result.output
    assert "Traceback" not in result.output
