"""Brand texts (folder name + ``aliases.txt``), fuzzy matching of the words read in a region, and the fusion of
that text evidence with the visual match."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osld.errors import ConfigError
from osld.registry import read_aliases
from osld.types import UNKNOWN


def normalize_text(text: str) -> str:
    """Casefolded letters and digits only: accents stripped (NFKD), punctuation, ``_`` and spaces removed.

    ``"Coca-Cola"``, ``"COCA COLA"`` and ``"coca_cola"`` all become ``"cocacola"`` (OCR splits or joins words
    unpredictably, so spaces carry no signal). Non-Latin letters (e.g. katakana) are kept.
    """
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text.casefold() if c.isalnum() and not unicodedata.combining(c))


class BrandTexts:
    """The normalized texts of each brand, and fuzzy matching of read text against them (``rapidfuzz``).

    Args:
        texts: brand -> its names (folder name and aliases, any spelling).
        min_partial: shortest brand text that may be found *inside* a longer read (``"adidasoriginals"`` names
            adidas); shorter ones must match the whole read, or every read containing ``"on"`` would name On.
    """

    def __init__(self, texts: dict[str, Iterable[str]], min_partial: int = 5):
        self.min_partial = min_partial
        self.choices: list[str] = []
        self.owners: list[str] = []
        for brand, names in texts.items():
            for norm in dict.fromkeys(normalize_text(n) for n in [brand, *names]):
                if norm:
                    self.choices.append(norm)
                    self.owners.append(brand)
        self._lens = np.array([len(c) for c in self.choices])

    @classmethod
    def from_registry(cls, root: str | Path, brands: Sequence[str], **kwargs) -> BrandTexts:
        """Each brand's folder name (``_`` read as a space) plus ``<root>/<brand>/aliases.txt``."""
        root = Path(root)
        return cls({b: [b.replace("_", " "), *read_aliases(root / b)] for b in brands}, **kwargs)

    def scores(self, reads: Sequence[str]) -> dict[str, float]:
        """Brand -> best match score in [0, 1] of the lines ``reads`` (each line, and all lines joined: a
        two-line logo is often read as two lines), for brands scoring at least 0.5."""
        from rapidfuzz import fuzz, process

        # a single character read (an emblem's stroke taken for "M") names nothing
        queries = [q for q in dict.fromkeys([*(normalize_text(r) for r in reads), normalize_text("".join(reads))])
                   if len(q) >= 2]
        if not queries or not self.choices:
            return {}
        # normalized Indel similarity of the whole read and the brand text
        full = process.cdist(queries, self.choices, scorer=fuzz.ratio, score_cutoff=50, workers=1)
        # the brand text found inside a longer read; only for brand texts long enough not to occur by chance
        part = process.cdist(queries, self.choices, scorer=fuzz.partial_ratio, score_cutoff=90, workers=1)
        qlen = np.array([len(q) for q in queries])[:, None]
        part = np.where((self._lens[None, :] >= self.min_partial) & (qlen >= self._lens[None, :]), part, 0)
        best = np.maximum(full, part).max(axis=0) / 100.0
        out: dict[str, float] = {}
        for j in np.nonzero(best >= 0.5)[0]:
            b = self.owners[j]
            out[b] = max(out.get(b, 0.0), float(best[j]))
        return out


@dataclass(frozen=True)
class FusionConfig:
    """How text evidence changes a region's brand.

    The defaults were chosen on the tuning half of real photos (``benchmarks/text_eval.py``, README "Reading
    text"): the strictest rule among those with the best tuning score. A text score of 1.0 means the brand's
    normalized name (or an alias) was read exactly, alone or inside a longer read.

    Attributes:
        t_tie: text score from which the read brand wins a close visual call.
        margin: a visual call is close when the read brand's similarity is within this of the best one.
        t_name: text score from which the read brand names a region the visual match left ``unknown``.
        t_override: text score from which the read brand replaces a different visual match (> 1: never).
    """

    t_tie: float = 0.9
    margin: float = 0.02
    t_name: float = 1.0
    t_override: float = 1.0

    def __post_init__(self) -> None:
        for name in ("t_tie", "t_name"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def fuse(alternatives: Sequence[tuple[str, float]], text_scores: dict[str, float], min_sim: float,
         cfg: FusionConfig) -> tuple[str, str]:
    """The region's brand from its visual top-k ``alternatives`` (best first) and its text scores.

    Returns ``(brand, how)``; ``how`` is one of ``visual`` (text unused or absent), ``confirmed`` (text reads the
    visual brand), ``tie`` (text broke a close visual call), ``named`` (text named an unknown region),
    ``override`` (text replaced a confident visual brand).
    """
    b1, s1 = alternatives[0] if alternatives else (UNKNOWN, -1.0)
    visual = b1 if s1 >= min_sim else UNKNOWN
    if not text_scores:
        return visual, "visual"
    sims = dict(alternatives)
    # best read brand; between equal text scores the visually closer one
    bt = max(text_scores, key=lambda b: (text_scores[b], sims.get(b, -2.0)))
    t = text_scores[bt]
    if bt == visual:
        return visual, "confirmed" if t >= cfg.t_tie else "visual"
    if t >= cfg.t_tie and bt in sims and s1 - sims[bt] <= cfg.margin and sims[bt] >= min_sim - cfg.margin:
        return bt, "tie"  # includes a visual top just under min_sim that the text reads
    if visual == UNKNOWN and t >= cfg.t_name:
        return bt, "named"
    if visual != UNKNOWN and t >= cfg.t_override:
        return bt, "override"
    return visual, "visual"
