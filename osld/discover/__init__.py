"""Find the brands nobody registered: cluster the ``unknown`` regions of a results file, name a cluster, register it.

Example:
    >>> from osld.discover import discover, add_cluster
    >>> clusters = discover("results.jsonl", "clusters/", embeddings="emb.npz", registry=reg)
    >>> add_cluster("clusters/", clusters[0].id, "acme", reg, take=5)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from osld.discover.cluster import BRUTE_MAX, Cluster, cluster
from osld.discover.embeddings import EmbeddingWriter, Regions, embed_records, load_regions, read_results
from osld.discover.report import read_clusters, write_report
from osld.discover.text import read_texts, recorded_texts
from osld.embedder import Embedder
from osld.errors import ConfigError, OsldError, RegistryMismatchError
from osld.registry import Registry
from osld.types import UNKNOWN

log = logging.getLogger("osld")

__all__ = ["Cluster", "EmbeddingWriter", "Regions", "add_cluster", "cluster", "discover", "load_regions",
           "read_texts", "unknown_regions"]


def unknown_regions(results: str | Path, embeddings: str | Path | None = None,
                    embedder: Embedder | None = None) -> Regions:
    """The ``unknown`` regions of a JSONL results file with their embeddings: from ``embeddings`` (written by
    ``osld detect --save-embeddings``) where it covers them, else re-embedded from the images with ``embedder``."""
    return _unknown_regions(read_results(results), embeddings, embedder, results)


def _unknown_regions(records: list[dict], embeddings: str | Path | None, embedder: Embedder | None,
                     results: str | Path) -> Regions:
    known = {r["image"] for r in records}
    if embeddings is not None:
        regions = load_regions(embeddings)
        if embedder is not None and regions.embedder and regions.embedder != embedder.fingerprint:
            raise RegistryMismatchError(f"{embeddings} was made by embedder {regions.embedder[:12]}, not "
                                        f"{embedder.fingerprint[:12]}")
        covered = set(regions.images)
        missing = [r for r in records if r["image"] not in covered]
        if missing:
            if embedder is None:
                raise OsldError(f"{embeddings} does not cover {len(missing)} image(s) of {results}; pass an "
                                "embedder to embed them")
            regions = Regions.concat([regions, embed_records(missing, embedder)], regions.embedding.shape[1],
                                     regions.embedder)
    elif embedder is not None:
        regions = embed_records(records, embedder)
    else:
        raise ConfigError("pass embeddings= (osld detect --save-embeddings) or an embedder")
    keep = (regions.brand == UNKNOWN) & np.isin(regions.image, list(known))
    keep &= np.linalg.norm(regions.embedding, axis=1) > 1e-6  # boxes too small to embed
    return regions.select(keep)


def discover(results: str | Path, out: str | Path, embeddings: str | Path | None = None,
             embedder: Embedder | None = None, registry: Registry | None = None, min_size: int = 3,
             per_cluster: int = 40, text: bool = False, progress: bool = False) -> list[Cluster]:
    """Cluster the unknown regions of ``results`` and write the report folder ``out`` (see ``osld.discover.report``).

    ``text``: also cluster by the words read in each region (``osld.discover.text``): the ``text`` that
    ``osld detect --text`` recorded, else read now (the ``[text]`` extra).

    Returns the clusters, best first; their ``members`` index the regions in ``out/clusters.json`` order.
    """
    records = read_results(results)
    regions = _unknown_regions(records, embeddings, embedder, results)
    if registry is not None and regions.embedder and registry.embedder is not None \
            and registry.embedder.fingerprint != regions.embedder:
        raise RegistryMismatchError(f"registry {registry.root} embeds with {registry.embedder.fingerprint[:12]} "
                                    f"but the regions were embedded with {regions.embedder[:12]}")
    if text and len(regions) > BRUTE_MAX:  # cluster() could not use them: do not spend minutes reading them
        log.warning("discover: %d regions > %d; clustering without the words read", len(regions), BRUTE_MAX)
        text = False
    texts = read_texts(regions, recorded_texts(records, regions), progress=progress) if text else None
    clusters = cluster(regions.embedding, min_size=min_size, registry=registry, texts=texts)
    write_report(out, regions, clusters, per_cluster=per_cluster, source=str(results), texts=texts)
    return clusters


def add_cluster(clusters_dir: str | Path, cluster_id: int, brand: str, registry: Registry, take: int = 5,
                pick: list[int] | None = None) -> list[Path]:
    """Copy a cluster's most central ``take`` crops (or the crops numbered ``pick``, 0 = most central) into
    ``registry/brand/`` with ``Registry.add``; returns the registry paths of the added files."""
    found = [c for c in read_clusters(clusters_dir) if c.get("id") == cluster_id]
    if not found:
        raise ConfigError(f"no cluster {cluster_id} in {clusters_dir}")
    crops = [Path(clusters_dir) / p for p in found[0]["crops"]]
    if pick:
        bad = [i for i in pick if not 0 <= i < len(crops)]
        if bad:
            raise ConfigError(f"cluster {cluster_id} has crops 0..{len(crops) - 1}; no {bad}")
        chosen = [crops[i] for i in pick]
    else:
        if take < 1:
            raise ConfigError(f"take must be >= 1, got {take}")
        chosen = crops[:take]
    if not chosen:
        raise ConfigError(f"cluster {cluster_id} has no crops on disk")
    # crop files are named after their cluster, so two clusters added to one brand never clash
    return registry.add(brand, chosen)
