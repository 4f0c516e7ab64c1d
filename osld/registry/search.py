"""Brand search over the faiss index: nearest registry rows, grouped so each brand appears once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from osld.errors import RegistryMismatchError
from osld.registry.index import faiss_threads


@dataclass(frozen=True)
class Match:
    brand: str
    sim: float
    path: str  # registry-relative path of the closest canonical image of that brand


def search_brands(index, vectors: np.ndarray, row_brands: np.ndarray, row_paths: list[str], emb: np.ndarray, k: int,
                  rows: int | None, binary: bool, rescore: bool, row_offsets: np.ndarray | None = None
                  ) -> list[list[Match]]:
    """Top-``k`` brands per query row of ``emb`` (see ``Registry.search``); ``row_offsets`` (one per row, <= 0)
    are added to a row's similarity before ranking (``osld.embedder.preprocess.VARIANT_PENALTY``)."""
    emb = np.ascontiguousarray(emb, np.float32)
    if emb.ndim != 2 or emb.shape[1] != vectors.shape[1]:
        raise RegistryMismatchError(f"query embeddings have shape {emb.shape}; registry dim is "
                                    f"{vectors.shape[1]}")
    if len(emb) == 0 or len(row_paths) == 0:
        return [[] for _ in range(len(emb))]
    n_rows = min(len(row_paths), rows or max(64, 8 * k))
    with faiss_threads(1 if len(emb) < 64 else None):
        if binary:
            # Hamming search over sign bits finds the candidates; their exact cosine keeps the similarity on
            # the same scale as float search (and as MatchConfig.min_sim)
            hamming, idx = index.search(np.packbits(emb > 0, axis=1), n_rows)
            if rescore:
                sims = np.einsum("qkd,qd->qk", vectors[np.maximum(idx, 0)], emb)
                order = np.argsort(-sims, axis=1, kind="stable")
                idx, sims = np.take_along_axis(idx, order, 1), np.take_along_axis(sims, order, 1)
            else:
                sims = np.cos(np.pi * hamming.astype(np.float32) / vectors.shape[1])
        else:
            sims, idx = index.search(emb, n_rows)
    if row_offsets is not None and row_offsets.any():
        sims = sims + np.where(idx >= 0, row_offsets[np.maximum(idx, 0)], 0.0)
        order = np.argsort(-sims, axis=1, kind="stable")
        idx, sims = np.take_along_axis(idx, order, 1), np.take_along_axis(sims, order, 1)
    results = []
    for srow, irow in zip(sims, idx, strict=True):
        best: dict[str, Match] = {}
        for s, i in zip(srow, irow, strict=True):
            if i < 0:
                continue
            brand = row_brands[i]
            if brand not in best:  # rows come sorted by similarity: the first one per brand is its best
                best[brand] = Match(brand, float(s), row_paths[i])
                if len(best) == k:
                    break
        results.append(list(best.values()))
    return results
