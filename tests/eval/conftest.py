"""Fixtures for the evaluation tests: tiny datasets in each real layout (see ``fixtures.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .fixtures import make_coco, make_flickrlogos27, make_flickrlogos32, make_yolo


@pytest.fixture
def fl32_root(tmp_path: Path) -> Path:
    return make_flickrlogos32(tmp_path)


@pytest.fixture
def fl27_root(tmp_path: Path) -> Path:
    return make_flickrlogos27(tmp_path)


@pytest.fixture
def yolo_yaml(tmp_path: Path) -> Path:
    return make_yolo(tmp_path)


@pytest.fixture
def coco_set(tmp_path: Path) -> tuple[Path, Path]:
    return make_coco(tmp_path)
