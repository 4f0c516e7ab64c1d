"""What a batch run reports besides its records: the one-line summary and unique picture names.

``osld detect`` and any service built on ``Pipeline.run`` share these, so a run reads the same everywhere.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from osld.types import Detections


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 image``, ``2 images``; ``words`` for irregular plurals."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


class VisNames:
    """Unique file stems for annotated pictures: a second ``a.jpg`` from another folder gets a path-hash suffix
    instead of overwriting the first one's picture."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, path: str | Path) -> str:
        path = Path(path)
        name = path.stem
        if name in self._used:
            name = f"{name}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
        self._used.add(name)
        return name


@dataclass
class RunSummary:
    """Counts over the results of a run; ``add`` each ``Result`` (or detections/error), then ``line``."""

    images: int = 0
    failed: int = 0
    skipped: int = 0  # already done in an earlier run (--resume)
    boxes: int = 0
    brands: Counter = field(default_factory=Counter)  # named boxes per brand; unknown boxes counted apart
    unknown: int = 0

    def add(self, detections: Detections | None, error: str | None = None) -> None:
        self.images += 1
        if error or detections is None:
            self.failed += 1
            return
        self.boxes += len(detections)
        known = detections.is_known
        self.brands.update(str(b) for b in detections.brand[known])
        self.unknown += int((~known).sum())

    def line(self, seconds: float | None = None) -> str:
        """E.g. ``9 images (0 failed), 23 detections: 16 named, 7 unknown; 12 brands: bmw (2), ...; 1.2 s, ...``."""
        head = f"{plural(self.images, 'image')} ({self.failed:,} failed"
        head += f", {self.skipped:,} skipped as done)" if self.skipped else ")"
        named = self.boxes - self.unknown
        found = ", ".join(f"{b} ({n})" for b, n in sorted(self.brands.items(), key=lambda x: (-x[1], x[0])))
        text = f"{head}, {plural(self.boxes, 'detection')}: {named:,} named, {self.unknown:,} unknown"
        text += f"; {plural(len(self.brands), 'brand')}: {found}" if self.brands else "; no brand named"
        if seconds is not None:
            text += f"; {seconds:.1f} s, {self.images / max(seconds, 1e-9):.1f} images/s"
        return text
