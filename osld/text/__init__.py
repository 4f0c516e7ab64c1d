"""Text as a second matching signal: read the words in each detected region and fuzzy-match them to the
registry's brand names (``Pipeline(text=...)``, ``osld detect --text``). Needs the ``[text]`` extra."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from osld.text.match import BrandTexts, FusionConfig, fuse, normalize_text
from osld.text.ocr import Line, TextReader, join_lines

__all__ = ["BrandTexts", "FusionConfig", "Line", "TextMatcher", "TextReader", "fuse", "join_lines", "normalize_text"]


class TextMatcher:
    """Reads region crops and scores them against a registry's brand texts.

    Args:
        reader: the OCR (default: ``TextReader()``).
        fusion: how text and visual evidence combine.

    The brand texts are rebuilt whenever the registry's brand list changes (folders added or removed).
    """

    def __init__(self, reader: TextReader | None = None, fusion: FusionConfig | None = None):
        self.reader = reader or TextReader()
        self.fusion = fusion or FusionConfig()
        self._texts: BrandTexts | None = None
        self._key: tuple | None = None

    def brand_texts(self, root: str | Path, brands: Sequence[str]) -> BrandTexts:
        key = (str(root), tuple(brands))
        if key != self._key:
            self._texts, self._key = BrandTexts.from_registry(root, brands), key
        return self._texts

    def read_and_score(self, crops: list[np.ndarray], texts: BrandTexts) -> list[tuple[str, dict[str, float]]]:
        """Per crop: the text read (``join_lines``) and its brand scores."""
        return [(join_lines(lines), texts.scores([ln.text for ln in lines])) for lines in self.reader.read(crops)]
