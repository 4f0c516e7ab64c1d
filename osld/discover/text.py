"""The words read in each region as a second clustering signal: wordmarks that look alike but spell different
brands are kept apart, and one brand's wordmark in different fonts is drawn together.

Why: the embedder sees a wide wordmark squeezed into a square, so bold wordmarks of different brands land close
together (on the never-trained-on validation crops one HDBSCAN cluster held napapijri, new balance, patagonia and
bvlgari). Reading the words separates them; measured in README "Discover" (``benchmarks/discover.py --text``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from osld.data.images import load_image
from osld.discover.embeddings import Regions
from osld.errors import ConfigError, OsldError
from osld.pipeline import MatchConfig

# A read this short ("x", "0": an emblem's stroke read as a letter) says nothing about the brand.
MIN_CHARS = 3
# Read texts less similar than this (rapidfuzz Indel ratio, 0-1) are different words: those regions never link
# directly. At least this similar: the same words, so the pair is at most LINKED_DISTANCE apart (euclidean on unit
# vectors; 0.6 is cosine 0.82). Chosen on the train-side crops of the real brand sets: every setting in 0.5-0.6 /
# 0.85-0.95 / 0.5-0.8 gave 31-33 of 34 brands >= 0.8 pure (27 without text); these are the middle.
SPLIT_BELOW = 0.5
MERGE_FROM = 0.9
LINKED_DISTANCE = 0.6
# One text inside the other ("americaneagle" in "americaneagleoutfitters") counts only from this length on.
MIN_PARTIAL = 5


def text_similarity(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise similarity of the texts read, over the regions that read at least ``MIN_CHARS`` letters or digits.

    Returns:
        ``(rows, sim)``: the indices of those regions and their (k, k) float32 similarity in [0, 1], the best of
        rapidfuzz's ``ratio`` and (both texts at least ``MIN_PARTIAL`` long) ``partial_ratio``. Computed once per
        distinct text: a collection repeats the same few words many times.
    """
    try:
        from rapidfuzz import fuzz, process
    except ImportError:
        raise ConfigError("clustering with text needs rapidfuzz: pip install 'osld[text]'") from None
    from osld.text import normalize_text

    norm = [normalize_text(t or "") for t in texts]
    rows = np.array([i for i, t in enumerate(norm) if len(t) >= MIN_CHARS], np.int64)
    distinct = sorted({norm[i] for i in rows})
    if not distinct:
        return rows, np.zeros((0, 0), np.float32)
    which = {t: j for j, t in enumerate(distinct)}
    ratio = process.cdist(distinct, distinct, scorer=fuzz.ratio, dtype=np.uint8, workers=-1)
    partial = process.cdist(distinct, distinct, scorer=fuzz.partial_ratio, dtype=np.uint8, workers=-1)
    long = np.array([len(t) >= MIN_PARTIAL for t in distinct])
    best = np.maximum(ratio, np.where(long[:, None] & long[None, :], partial, 0)).astype(np.float32) / 100.0
    idx = np.array([which[norm[i]] for i in rows], np.int64)
    return rows, best[np.ix_(idx, idx)]


def fold_text(distances: np.ndarray, texts: Sequence[str], chunk: int = 1024) -> np.ndarray:
    """``distances`` (n, n, euclidean between unit embeddings, 0-2) with the text evidence folded in, in place:
    pairs reading different words are set to 2 (the largest distance), pairs reading the same words to at most
    ``LINKED_DISTANCE``. Regions without a readable text keep their distances. Works in blocks of ``chunk`` rows to
    bound the temporaries."""
    rows, sim = text_similarity(texts)
    for start in range(0, len(rows), chunk):
        part = rows[start: start + chunk]
        block = distances[np.ix_(part, rows)]
        s = sim[start: start + chunk]
        block[s < SPLIT_BELOW] = 2.0
        np.minimum(block, np.where(s >= MERGE_FROM, LINKED_DISTANCE, 2.0), out=block)
        block[np.arange(len(part)), np.arange(start, start + len(part))] = 0.0  # a region to itself
        distances[np.ix_(part, rows)] = block
    return distances


def recorded_texts(records: Sequence[dict], regions: Regions) -> list[str | None]:
    """Per region, the ``text`` its detection carries in the results records (``osld detect --text``), None when
    that run read no text."""
    by_image = {r["image"]: r.get("detections") or [] for r in records}
    out: list[str | None] = []
    for image, det in zip(regions.image.tolist(), regions.det.tolist(), strict=True):
        dets = by_image.get(image, [])
        out.append(dets[det].get("text") if 0 <= det < len(dets) else None)
    return out


def read_texts(regions: Regions, known: Sequence[str | None] | None = None, reader=None,
               match: MatchConfig | None = None, max_side: int | None = 1024, progress: bool = False) -> list[str]:
    """The words in each region: ``known[i]`` where it is not None (what ``osld detect --text`` recorded), else
    read with ``reader`` (default ``osld.text.TextReader()``) from the crop the pipeline embeds. Lines are joined
    as in results files (``osld.text.join_lines``); an image that no longer decodes reads as ``""``."""
    from tqdm import tqdm

    from osld.text import join_lines

    known = list(known) if known is not None else [None] * len(regions)
    if len(known) != len(regions):
        raise ConfigError(f"known texts: expected {len(regions)}, got {len(known)}")
    todo: dict[str, list[int]] = {}
    for i, t in enumerate(known):
        if t is None:
            todo.setdefault(str(regions.image[i]), []).append(i)
    out = [t or "" for t in known]
    if not todo:
        return out
    if reader is None:
        from osld.text import TextReader

        reader = TextReader()
    match = match or MatchConfig()
    for image, idx in tqdm(todo.items(), desc="reading text", unit="img", disable=not progress):
        try:
            loaded = load_image(image, max_side)
        except OsldError:
            continue
        crops = match.crops(loaded.pixels, regions.xyxy[idx] * loaded.scale)
        for i, lines in zip(idx, reader.read(crops), strict=True):
            out[i] = join_lines(lines)
    return out
