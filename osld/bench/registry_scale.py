"""faiss search at registry scale (flat float, binary flat, HNSW, IVF on random unit vectors)."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from osld.bench.common import QUERY_BATCH, REGISTRY_SIZES, SEARCH_ROWS, Progress, _quiet

if TYPE_CHECKING:
    import numpy as np

# ---------------------------------------------------------------- registry scale


def _unit(x: np.ndarray) -> np.ndarray:
    import numpy as np

    x /= np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
    return x


def random_unit_vectors(n: int, dim: int, seed: int = 0, chunk: int = 65_536) -> np.ndarray:
    """float32 (n, dim) L2-normalized Gaussian vectors, generated in chunks to bound temporary memory."""
    import numpy as np

    rng = np.random.default_rng([seed, 4])
    out = np.empty((n, dim), np.float32)
    for i in range(0, n, chunk):
        out[i: i + chunk] = _unit(rng.standard_normal((min(chunk, n - i), dim), dtype=np.float32))
    return out


def index_bytes(index: Any) -> int:
    """Memory held by a faiss index (codes, graph links, inverted lists), computed without copying it."""
    import faiss

    index = faiss.downcast_index(index) if isinstance(index, faiss.Index) else index
    if isinstance(index, faiss.IndexBinaryFlat):
        return int(index.xb.size())
    if isinstance(index, faiss.IndexHNSW):
        hnsw = index.hnsw
        storage = faiss.downcast_index(index.storage)
        return int(storage.codes.size() + 4 * hnsw.neighbors.size() + 4 * hnsw.levels.size()
                   + 8 * hnsw.offsets.size())
    if isinstance(index, faiss.IndexIVF):
        return int(index.ntotal * (index.code_size + 8) + index_bytes(index.quantizer))
    if hasattr(index, "codes"):
        return int(index.codes.size())
    return len(faiss.serialize_index(index))


def _search_ms(index: Any, queries: np.ndarray, batch: int, k: int) -> tuple[float, np.ndarray]:
    """Median ms per query over calls of ``batch`` queries (robust to background hiccups); also the top-1 ids."""
    import numpy as np

    index.search(queries[:batch], k)  # warm-up (first-call allocations, OpenMP pool start)
    top1, per_query = [], []
    for i in range(0, len(queries), batch):
        q = queries[i: i + batch]
        start = time.perf_counter()
        _, ids = index.search(q, k)
        per_query.append((time.perf_counter() - start) / len(q))
        top1.append(ids[:, 0])
    return 1000 * statistics.median(per_query), np.concatenate(top1)


def bench_registry_scale(dim: int, max_n: int, n_queries: int = 200, seed: int = 0, hnsw_m: int = 32,
                         hnsw_ef_search: int = 128, ivf_nprobe: int = 32, progress: Progress = _quiet
                         ) -> list[dict[str, Any]]:
    """Search latency, index memory and recall@1 vs exact search for four faiss indexes at 1e3..``max_n`` rows.

    Registry rows are random unit vectors. Each query is a registry row plus Gaussian noise (cosine ~0.7 to it),
    like a photo crop of a registered logo; ``k`` is the 64 rows ``Registry.search`` asks for. Random vectors in
    256-d have no cluster structure, the hardest case for the ANN indexes, so their recall here is a lower bound.

    Returns:
        One row per (index, n): ``build_s``, ``index_mb``, ``ms_per_query_b1`` (one query per call),
        ``ms_per_query_b32`` (32 per call) and ``recall_at_1`` (top-1 id equal to exact float search).
    """
    import faiss
    import numpy as np

    sizes = [n for n in REGISTRY_SIZES if n <= max_n] or [max_n]
    progress(f"registry scale: generating {sizes[-1]:,} random {dim}-d vectors ...")
    base = random_unit_vectors(sizes[-1], dim, seed)
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng([seed, 5])
    for n in sizes:
        xb = base[:n]
        ids = rng.integers(0, n, n_queries)
        queries = _unit(xb[ids] + rng.standard_normal((n_queries, dim), dtype=np.float32) / np.sqrt(dim))
        n_single = min(n_queries, 20)
        exact_top1: np.ndarray | None = None

        def build_flat(x: np.ndarray = xb) -> Any:
            index = faiss.IndexFlatIP(dim)
            index.add(x)
            return index

        def build_binary(x: np.ndarray = xb) -> Any:
            index = faiss.IndexBinaryFlat(dim)
            index.add(np.packbits(x > 0, axis=1))
            return index

        def build_hnsw(x: np.ndarray = xb) -> Any:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = max(hnsw_ef_search, SEARCH_ROWS)
            index.add(x)
            return index

        nlist = max(1, min(1024, n // 39))

        def build_ivf(x: np.ndarray = xb, nlist: int = nlist) -> Any:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            train = x[np.random.default_rng([seed, 6]).permutation(len(x))[: 40 * nlist]]
            index.train(train)
            index.add(x)
            index.nprobe = min(ivf_nprobe, nlist)
            return index

        specs = [("flat", "IndexFlatIP", build_flat, queries),
                 ("binary", "IndexBinaryFlat (sign bits, Hamming)", build_binary, np.packbits(queries > 0, axis=1)),
                 ("hnsw", f"IndexHNSWFlat M={hnsw_m} efSearch={max(hnsw_ef_search, SEARCH_ROWS)} IP", build_hnsw,
                  queries),
                 ("ivf", f"IndexIVFFlat nlist={nlist} nprobe={min(ivf_nprobe, nlist)} IP", build_ivf, queries)]
        for name, desc, build, q in specs:
            progress(f"registry scale: {name} at {n:,} rows ...")
            start = time.perf_counter()
            index = build()
            build_s = time.perf_counter() - start
            k = min(SEARCH_ROWS, n)
            ms_b1, _ = _search_ms(index, q[:n_single], 1, k)
            ms_b32, top1 = _search_ms(index, q, QUERY_BATCH, k)
            if exact_top1 is None:
                exact_top1 = top1
            rows.append({"index": name, "description": desc, "n": n, "dim": dim, "build_s": round(build_s, 3),
                         "index_mb": round(index_bytes(index) / 2**20, 2), "ms_per_query_b1": round(ms_b1, 4),
                         "ms_per_query_b32": round(ms_b32, 4),
                         "recall_at_1": round(float(np.mean(top1 == exact_top1)), 4)})
            del index
    return rows
