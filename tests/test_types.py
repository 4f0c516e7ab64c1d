from contextlib import nullcontext as does_not_raise

import numpy as np
import pytest

from osld.types import UNKNOWN, Detections


def make(n: int = 3) -> Detections:
    xyxy = np.array([[i, i, i + 10, i + 20] for i in range(n)], np.float32)
    return Detections(xyxy, np.linspace(0.9, 0.5, n), brand=np.array(["a", UNKNOWN, "b"][:n], object),
                      sim=np.array([0.9, 0.2, 0.7][:n]), alternatives=[[("a", 0.9)], [], [("b", 0.7)]][:n])


@pytest.mark.parametrize(
    ("xyxy", "score", "expectation"),
    [
        (np.zeros((2, 4)), np.zeros(2), does_not_raise()),
        (np.zeros((0, 4)), np.zeros(0), does_not_raise()),
        (np.zeros((2, 3)), np.zeros(2), pytest.raises(ValueError, match="xyxy")),
        (np.zeros((2, 4)), np.zeros(3), pytest.raises(ValueError, match="score")),
    ],
)
def test_shape_validation(xyxy, score, expectation):
    with expectation:
        Detections(xyxy, score)


def test_defaults_are_unknown_and_nan():
    d = Detections(np.zeros((2, 4)), np.ones(2))
    assert list(d.brand) == [UNKNOWN, UNKNOWN]
    assert np.isnan(d.sim).all()
    assert not d.is_known.any()


@pytest.mark.parametrize("index", [1, slice(0, 2), [0, 2], np.array([True, False, True])])
def test_indexing_keeps_type_and_columns(index):
    d = make()
    sub = d[index]
    assert isinstance(sub, Detections)
    expected = np.arange(3)[index]
    np.testing.assert_array_equal(sub.xyxy, d.xyxy[np.atleast_1d(expected)])
    assert list(sub.brand) == list(d.brand[np.atleast_1d(expected)])
    assert len(sub.alternatives) == len(sub)


def test_to_records_schema():
    recs = make().to_records()
    assert [r["brand"] for r in recs] == ["a", UNKNOWN, "b"]
    assert set(recs[0]) == {"box", "confidence", "score", "brand", "similarity", "alternatives"}
    assert recs[0]["alternatives"] == [{"brand": "a", "similarity": 0.9}]
    assert recs[1]["box"] == [1.0, 1.0, 11.0, 21.0]
