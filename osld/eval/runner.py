"""Run a predictor over evaluation samples: each distinct image once, in order, with a progress bar."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from osld.errors import OsldWarning
from osld.eval.datasets import Sample
from osld.types import Detections

Predictor = Callable[[list[Path]], Iterable["Detections | None"]]
"""Takes image paths, yields one ``Detections`` (or None for an unreadable image) per path, in order."""


def pipeline_predictor(pipe: Any) -> Predictor:
    """Adapt an ``osld.pipeline.Pipeline`` (anything whose ``run(paths, progress=False)`` yields results with
    ``path``, ``detections`` and ``error``) to a ``Predictor``; unreadable images are reported in one warning.
    """

    def predict(paths: list[Path]) -> Iterator[Detections | None]:
        errors = []
        for expected, result in zip(paths, pipe.run(paths, progress=False), strict=False):
            if Path(result.path) != Path(expected):
                raise RuntimeError(f"pipeline yielded {result.path} where {expected} was expected")
            if result.detections is None:
                errors.append(f"{result.path}: {result.error}")
            yield result.detections
        if errors:
            warnings.warn(f"{len(errors)} images could not be read and count as having no detections, "
                          f"e.g. {errors[0]}", OsldWarning, stacklevel=2)

    return predict


def predict_samples(samples: Sequence[Sample], predict: Predictor,
                    progress: bool = True) -> list[Detections | None]:
    """Predictions aligned with ``samples``; ``predict`` is called once, with each distinct image once.

    Raises:
        RuntimeError: the predictor yields fewer or more results than images.
    """
    from tqdm import tqdm

    paths = list(dict.fromkeys(s.path for s in samples))
    by_path: dict[Path, Detections | None] = {}
    results = iter(predict(paths))
    for path in tqdm(paths, desc="evaluate", unit="img", disable=not progress):
        try:
            by_path[path] = next(results)
        except StopIteration:
            raise RuntimeError(f"predictor stopped after {len(by_path)} of {len(paths)} images") from None
    if next(results, None) is not None:
        raise RuntimeError(f"predictor yielded more than {len(paths)} results")
    return [by_path[s.path] for s in samples]
