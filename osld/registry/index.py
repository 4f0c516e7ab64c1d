"""The files in ``<registry>/.osld/``: reading them with every consistency check, writing them atomically.

``manifest.json`` is written last and holds checksums of ``vectors.npy`` (its float32 content) and of
``index.faiss`` (its bytes), so a torn, stale or swapped file is detected. ``vectors.npy`` is the source of
truth: a bad ``vectors.npy``/manifest means re-embedding, a bad ``index.faiss`` is rebuilt from the vectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import time
from pathlib import Path

import numpy as np

from osld._io import atomic_write_bytes

log = logging.getLogger("osld")

FORMAT_VERSION = 1


@contextlib.contextmanager
def faiss_threads(n: int | None):
    """Temporarily set faiss' OpenMP threads: one thread for small query batches, where a thread pool competing
    with onnxruntime's on a few cores costs more than the search itself."""
    import faiss

    if n is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def sha256_array(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def check_entries(entries: object, rows: int) -> None:
    """Raise ``ValueError`` unless the manifest entries are well-formed and tile rows ``0..rows`` in order."""
    if not isinstance(entries, list):
        raise ValueError("manifest entries are not a list")
    row = 0
    for e in entries:
        if not (isinstance(e, dict) and isinstance(e.get("path"), str) and e.get("row") == row
                and isinstance(e.get("rows"), int) and e["rows"] >= 0
                and all(k in e for k in ("size", "mtime_ns", "sha256"))):
            raise ValueError(f"manifest entry {e!r:.80} is malformed or out of order")
        row += e["rows"]
    if row != rows:
        raise ValueError(f"manifest entries cover {row} rows, vectors.npy has {rows}")


def read_index(index_dir: Path) -> tuple[dict | None, np.ndarray | None]:
    """The stored manifest and vectors, or (None, None) with a warning when missing/corrupt/partial."""
    manifest_path = index_dir / "manifest.json"
    vectors_path = index_dir / "vectors.npy"
    if not manifest_path.exists():
        if vectors_path.exists():
            log.warning("registry index in %s is partial (no manifest.json); rebuilding it", index_dir)
        return None, None
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict):
            raise ValueError("manifest.json is not a JSON object")
        if manifest.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {manifest.get('format')} != {FORMAT_VERSION}")
        vectors = np.load(vectors_path, allow_pickle=False)
        if vectors.shape != (manifest["rows"], manifest["dim"]) or sha256_array(vectors) != manifest["sha256"]:
            raise ValueError("vectors.npy does not match manifest.json")
        check_entries(manifest["entries"], manifest["rows"])
        return manifest, vectors
    # EOFError: numpy's answer to a 0-byte or header-only vectors.npy
    except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        log.warning("registry index in %s is corrupt or partial (%s); rebuilding it", index_dir, reason)
        return None, None


def _flat_index_bytes(vectors: np.ndarray) -> tuple[object, bytes]:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, np.float32))
    return index, faiss.serialize_index(index).tobytes()


def write_index(index_dir: Path, entries: list[dict], vectors: np.ndarray, fingerprint: str,
                variants: list[str], drawing: str, calibration: dict | None = None) -> object:
    """Write vectors, index and manifest (last); returns the faiss ``IndexFlatIP`` over ``vectors``.
    ``drawing``: ``osld.embedder.preprocess.drawing_fingerprint()`` of the code that drew the variants.
    ``calibration``: the registry's impostor statistics (``osld.calibration``), kept in the manifest."""
    buf = io.BytesIO()
    np.save(buf, vectors.astype(np.float32), allow_pickle=False)
    atomic_write_bytes(index_dir / "vectors.npy", buf.getvalue())
    index, data = _flat_index_bytes(vectors)
    atomic_write_bytes(index_dir / "index.faiss", data)
    manifest = {"format": FORMAT_VERSION, "embedder": fingerprint, "dim": int(vectors.shape[1]),
                "variants": variants, "drawing": drawing, "rows": int(len(vectors)), "sha256": sha256_array(vectors),
                "index_sha256": hashlib.sha256(data).hexdigest(),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "calibration": calibration, "entries": entries}
    atomic_write_bytes(index_dir / "manifest.json", json.dumps(manifest, indent=1).encode())
    return index


def load_flat_index(index_dir: Path, manifest: dict, vectors: np.ndarray) -> object:
    """``index.faiss`` if its checksum is the manifest's; otherwise rebuilt from ``vectors`` and repaired on disk
    (``index.faiss`` first, then the manifest's checksum), with one warning. Call with the registry lock held."""
    import faiss

    path = index_dir / "index.faiss"
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    if data is not None and hashlib.sha256(data).hexdigest() == manifest.get("index_sha256"):
        with contextlib.suppress(RuntimeError):  # cannot happen for a file we wrote; rebuilt below if it does
            index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
            if index.ntotal == len(vectors) and index.d == vectors.shape[1]:
                return index
    if data is None:
        reason = "missing"
    elif "index_sha256" not in manifest:
        reason = "unverified (manifest.json from an older osld has no checksum for it)"
    else:
        reason = "stale, swapped or corrupt (its checksum differs from manifest.json's)"
    log.warning("registry index %s is %s; rebuilt it from vectors.npy", path, reason)
    index, data = _flat_index_bytes(vectors)
    atomic_write_bytes(path, data)
    atomic_write_bytes(index_dir / "manifest.json",
                       json.dumps({**manifest, "index_sha256": hashlib.sha256(data).hexdigest()}, indent=1).encode())
    return index
