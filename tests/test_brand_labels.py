"""Brand-labelled real sets: ``labels_brand/`` lines become (brand, normalized box), brand names with spaces kept."""

import numpy as np
import pytest

from osld.data.yolo import read_brand_labels
from osld.errors import DatasetError


def _image(tmp_path, label_text: str | None):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels_brand").mkdir()
    img = tmp_path / "images" / "0001.jpg"
    img.write_bytes(b"")
    if label_text is not None:
        (tmp_path / "labels_brand" / "0001.txt").write_text(label_text)
    return img


def test_brand_with_spaces_and_blank_lines(tmp_path):
    img = _image(tmp_path, "the north face 0.5 0.5 0.2 0.1\n\nasahi 0.1 0.2 0.05 0.05\n")
    labels = read_brand_labels(img)
    assert [b for b, _ in labels] == ["the north face", "asahi"]
    np.testing.assert_allclose(labels[0][1], [0.5, 0.5, 0.2, 0.1])
    assert labels[1][1].shape == (4,)


def test_missing_file_is_no_boxes(tmp_path):
    assert read_brand_labels(_image(tmp_path, None)) == []


def test_malformed_line_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match="0001.txt"):
        read_brand_labels(_image(tmp_path, "kirin 0.5 half 0.2 0.1\n"))
