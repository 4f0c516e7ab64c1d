"""Cluster region embeddings into candidate brands: scikit-learn's HDBSCAN on L2-normalized vectors.

Why HDBSCAN and not faiss k-means (measured on 749 real brand-labelled crops of 45 brands, README "Discover"):
k-means must be told k, which is exactly what a user does not know, and it puts every region in some cluster, so
one-off logos and false detections pollute the clusters; HDBSCAN finds the number of clusters itself and leaves
outliers as noise. At its best k (twice the true brand count) k-means made 16 of 36 brands a >= 0.8 pure cluster,
HDBSCAN (min_cluster_size=3, min_samples=2) 28, in well under a second either way at that size. With session 19's
embedder min_samples=3 is the better smoothing (29 of 36 brands, 6 of 10 on the val side; min_samples=2: 27, 5), so
it is the default since; with the session-7 embedder it was 2 (28 vs 23). Session 20's embedder: 31 of 36, 6 of 10.

With the words read in each region (``texts``, ``osld.discover.text``) HDBSCAN runs on a precomputed distance matrix
with that evidence folded in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from osld.errors import ConfigError
from osld.registry import Match, Registry

log = logging.getLogger("osld")

# Up to this many regions HDBSCAN gets the full distance matrix (8 n^2 bytes), the only form the texts fold into.
BRUTE_MAX = 20000


@dataclass
class Cluster:
    """One candidate brand.

    Attributes:
        id: rank, 1 = most promising (largest ``size * tightness``).
        members: indices into the clustered embeddings, most central first.
        centrality: each member's cosine similarity to the cluster's mean direction, same order.
        tightness: mean of ``centrality`` (1 = identical crops).
        centroid: L2-normalized mean embedding.
        nearest: closest registered brands to the centroid (a close one may be a missing variant of it).
    """

    id: int
    members: np.ndarray
    centrality: np.ndarray
    centroid: np.ndarray
    nearest: list[Match] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def tightness(self) -> float:
        return float(self.centrality.mean())


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def unit_distances(x: np.ndarray) -> np.ndarray:
    """(n, n) float64 euclidean distances between unit rows, computed in place (one n x n allocation: at 10k
    regions each extra temporary costs 0.8 GB and seconds of page faults)."""
    x = np.asarray(x, np.float64)
    d = x @ x.T
    np.multiply(d, -2.0, out=d)
    d += 2.0
    np.maximum(d, 0.0, out=d)
    return np.sqrt(d, out=d)


def cluster(embeddings: np.ndarray, min_size: int = 3, min_samples: int | None = 3,
            registry: Registry | None = None, nearest_k: int = 3, brute_max: int = BRUTE_MAX,
            texts: Sequence[str] | None = None) -> list[Cluster]:
    """Group embeddings into clusters of at least ``min_size``; unclustered (noise) rows belong to none.

    Args:
        embeddings: float (n, dim) region embeddings (normalized here; rows of zeros are ignored).
        min_size: smallest cluster reported (HDBSCAN ``min_cluster_size``).
        min_samples: HDBSCAN's density smoothing; 3 split fewest brands apart on real crops with today's
            embedder (None: ``min_size``).
        registry: when given, each cluster lists its ``nearest_k`` registered brands.
        brute_max: above this many regions, cluster a 32-dimensional PCA projection (bounded memory).
        texts: the words read in each region (``""``: none), e.g. ``osld.discover.text.read_texts``: regions reading
            different words are kept apart, regions reading the same words drawn together (up to ``brute_max``
            regions; above it they are ignored with a warning).

    Returns:
        Clusters ranked by ``size * tightness``, best first, ``id`` 1, 2, ...
    """
    try:
        from sklearn.cluster import HDBSCAN
    except ImportError:
        raise ConfigError("clustering needs scikit-learn >= 1.3: pip install 'osld[discover]'") from None
    if min_size < 2:
        raise ConfigError(f"min_size must be >= 2, got {min_size}")
    emb = np.asarray(embeddings, np.float32)
    if emb.ndim != 2:
        raise ConfigError(f"embeddings must be (n, dim), got shape {emb.shape}")
    if texts is not None and len(texts) != len(emb):
        raise ConfigError(f"texts: expected one per embedding ({len(emb)}), got {len(texts)}")
    valid = np.nonzero(np.linalg.norm(emb, axis=1) > 1e-6)[0]
    if len(valid) < min_size:
        return []
    x = normalize(emb[valid])
    # on unit vectors euclidean distance is a monotone function of cosine, so this is cosine clustering.
    # Brute force (one n x n distance matrix, 8 n^2 bytes) is 5-8x faster than sklearn's default tree search in
    # 256 dimensions; past brute_max regions the matrix gets too big, so PCA to 32 dimensions makes trees work.
    feats, algorithm = x, "brute"
    if texts is not None and len(x) <= brute_max:
        from osld.discover.text import fold_text

        feats, algorithm = fold_text(unit_distances(x), [texts[i] for i in valid]), "precomputed"
    elif len(x) > brute_max:
        if texts is not None:
            log.warning("discover: %d regions > %d; clustering without the texts read", len(x), brute_max)
        from sklearn.decomposition import PCA

        feats, algorithm = PCA(32, random_state=0).fit_transform(x), "auto"
    # a precomputed matrix is HDBSCAN's metric, not a search algorithm
    how = {"metric": "precomputed"} if algorithm == "precomputed" else {"algorithm": algorithm}
    labels = HDBSCAN(min_cluster_size=min_size, min_samples=min(min_samples or min_size, len(x) - 1),
                     copy=True, **how).fit_predict(feats)
    found = []
    for lab in sorted(set(labels.tolist()) - {-1}):
        rows = np.nonzero(labels == lab)[0]
        centroid = normalize(x[rows].mean(axis=0, keepdims=True))[0]
        cos = x[rows] @ centroid
        order = np.argsort(-cos, kind="stable")
        found.append(Cluster(0, valid[rows[order]], cos[order], centroid))
    found.sort(key=lambda c: (-c.size * c.tightness, int(c.members[0])))
    for i, c in enumerate(found, 1):
        c.id = i
    if registry is not None and found and len(registry):
        for c, matches in zip(found, registry.search(np.stack([c.centroid for c in found]), k=nearest_k),
                              strict=True):
            c.nearest = matches
    return found
