"""The brand registry: a plain folder of canonical logo images, one sub-folder per brand, indexed with faiss.

On-disk format (the one place it is described)::

    <registry>/<brand>/<any name>.{png,jpg,jpeg,webp,bmp}   canonical images; the folder name is the brand
    <registry>/.osld/manifest.json    format version, embedder fingerprint + dim, canonical variants, and one
                                      entry per image: relative path, size, mtime_ns, sha256, first row, rows
    <registry>/.osld/vectors.npy      float32 (rows, dim) L2-normalized embeddings, in manifest order
    <registry>/.osld/index.faiss      faiss IndexFlatIP over vectors.npy (inner product = cosine)
    <registry>/.osld/lock             file lock held while the index is written

Each transparent canonical PNG is embedded as the variants in ``osld.embedder.preprocess.CANONICAL_VARIANTS``
(composited on white, on black, and as grey on white), so that a logo printed in any colour on any background
has a close neighbour; an opaque image is embedded once. The index is brought up to date on every use: only new
or changed files (size/mtime, then content hash) are embedded, deleted files drop out, and an index built by a
different embedder is rebuilt from scratch. Every file is written to a temporary name and renamed, the manifest
last, and ``vectors.npy``'s row count and checksum are checked against the manifest on load: a torn or corrupted
index is detected and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osld._io import atomic_write_bytes
from osld._onnx import file_sha256
from osld.data.images import load_rgba
from osld.embedder import Embedder
from osld.embedder.preprocess import CANONICAL_VARIANTS, canonical_variants
from osld.errors import ConfigError, ImageReadError, RegistryError, RegistryMismatchError

log = logging.getLogger("osld")

FORMAT_VERSION = 1
INDEX_DIR = ".osld"
REGISTRY_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


def validate_brand(name: str) -> str:
    """Return ``name`` (NFC) if it is a safe folder name, else raise ``ConfigError``.

    Unicode, spaces and punctuation are fine; path separators, ``.``/``..``, leading dots, control characters
    and empty names are not (nothing may be written outside the registry).
    """
    name = unicodedata.normalize("NFC", name.strip())
    if not name or name in (".", ".."):
        raise ConfigError(f"invalid brand name {name!r}: empty or a relative path")
    if name.startswith("."):
        raise ConfigError(f"invalid brand name {name!r}: must not start with '.'")
    if any(sep in name for sep in ("/", "\\", "\x00")) or any(unicodedata.category(c) == "Cc" for c in name):
        raise ConfigError(f"invalid brand name {name!r}: no path separators or control characters")
    if name.lower() == "unknown":
        raise ConfigError("'unknown' is reserved for unmatched regions; choose another brand name")
    if len(name.encode()) > 200:
        raise ConfigError(f"invalid brand name {name[:40]!r}...: longer than 200 bytes")
    return name


@dataclass(frozen=True)
class Match:
    brand: str
    sim: float
    path: str  # registry-relative path of the closest canonical image of that brand


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


def _sha256_array(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _check_entries(entries: object, rows: int) -> None:
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


class Registry:
    """A folder of canonical logos and its faiss index.

    Args:
        root: the registry folder (created if missing).
        embedder: used to embed new images; needed for ``sync``/``search``, not for ``add``/``list``.
        binary: search sign-binarized embeddings with ``faiss.IndexBinaryFlat`` (Hamming distance) instead of
            float inner product.
        rescore: with ``binary``, re-rank the Hamming candidates by their exact cosine (default). Without it,
            ranking is by Hamming distance alone and the similarity is its cosine estimate ``cos(pi * h / dim)``
            (sign random-projection geometry), still on the cosine scale of ``MatchConfig.min_sim``.

    Example:
        >>> reg = Registry("logos", embedder)
        >>> reg.add("acme", ["acme.png"])
        >>> reg.search(region_embeddings, k=5)
    """

    def __init__(self, root: str | Path, embedder: Embedder | None = None, binary: bool = False,
                 rescore: bool = True, refresh_seconds: float = 2.0):
        self.root = Path(root)
        self.embedder = embedder
        self.binary = binary
        self.rescore = rescore
        # searches re-check the folder for changes at most this often (a full stat scan costs ~0.3 s at 7k files)
        self.refresh_seconds = refresh_seconds
        self._checked_at = -float("inf")
        self._vectors: np.ndarray | None = None
        self._row_paths: list[str] = []
        self._row_brands: np.ndarray = np.zeros(0, object)
        self._index = None
        self._synced_state: tuple | None = None

    # ---------- folder operations (no embedder needed) ----------
    @property
    def index_dir(self) -> Path:
        return self.root / INDEX_DIR

    def brands(self) -> list[str]:
        """Brand folder names (valid ones) with at least one image, sorted."""
        return list(self.counts())

    def counts(self) -> dict[str, int]:
        """Images per brand, sorted by brand: exactly what the index holds once synced."""
        out: dict[str, int] = {}
        for p in self.files():
            out[p.parent.name] = out.get(p.parent.name, 0) + 1
        return out

    @staticmethod
    def _images_in(folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir()
                          if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in REGISTRY_EXTENSIONS)
        except OSError:
            return []

    def files(self) -> list[Path]:
        """All canonical image files, sorted by (brand, name). Folders with invalid brand names are skipped."""
        out = []
        if not self.root.is_dir():
            return out
        for d in sorted(self.root.iterdir()):
            if not d.is_dir() or d.name.startswith("."):
                continue
            try:
                validate_brand(d.name)
            except ConfigError as e:
                log.warning("skipping folder %s: %s", d, e)
                continue
            out.extend(self._images_in(d))
        return out

    def add(self, brand: str, images: Iterable[str | Path], sync: bool = True) -> list[Path]:
        """Copy images (files, or folders of images) into ``<root>/<brand>/`` and index only them.

        Each file is checked to decode before it is copied; a name clash gets a numeric suffix unless the content
        is identical. Returns the registry paths of the added files.

        Raises:
            ConfigError: invalid brand name, or no image given.
            ImageReadError: a given file is not a readable image.
        """
        brand = validate_brand(brand)
        sources: list[Path] = []
        for item in images:
            p = Path(item)
            if p.is_dir():
                sources.extend(self._images_in(p))
            else:
                sources.append(p)
        if not sources:
            raise ConfigError(f"no images given for brand {brand!r}")
        folder = self.root / brand
        folder.mkdir(parents=True, exist_ok=True)
        added = []
        for src in sources:
            if src.suffix.lower() not in REGISTRY_EXTENSIONS:
                raise ImageReadError(f"{src}: registry images must be one of {sorted(REGISTRY_EXTENSIONS)}")
            load_rgba(src)  # refuse unreadable files before they land in the registry
            dst = folder / src.name
            src_digest = file_sha256(src) if dst.exists() else None
            n = 1
            while dst.exists():
                if file_sha256(dst) == src_digest:
                    break
                dst = folder / f"{src.stem}_{n}{src.suffix}"
                n += 1
            if not dst.exists():
                tmp = folder / f".{dst.name}.{os.getpid()}.tmp"
                shutil.copyfile(src, tmp)
                os.replace(tmp, dst)
            added.append(dst)
        if sync and self.embedder is not None:
            self.sync()
        return added

    def remove(self, brand: str) -> int:
        """Delete a brand folder and its rows from the index; returns the number of images removed."""
        brand = validate_brand(brand)
        folder = self.root / brand
        if not folder.is_dir():
            raise RegistryError(f"brand {brand!r} is not in registry {self.root}")
        n = len(self._images_in(folder))
        shutil.rmtree(folder)
        if self.embedder is not None:
            self.sync()
        return n

    # ---------- index ----------
    def _lock(self):
        from filelock import FileLock

        self.index_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.index_dir / "lock"), timeout=600)

    def _require_embedder(self) -> Embedder:
        if self.embedder is None:
            raise RegistryError("this operation needs an embedder: Registry(path, embedder=...)")
        return self.embedder

    def _read_index(self) -> tuple[dict | None, np.ndarray | None]:
        """The stored manifest and vectors, or (None, None) with a message when missing/corrupt/partial."""
        manifest_path = self.index_dir / "manifest.json"
        vectors_path = self.index_dir / "vectors.npy"
        if not manifest_path.exists():
            if vectors_path.exists():
                log.warning("registry index in %s is partial (no manifest.json); rebuilding it", self.index_dir)
            return None, None
        try:
            manifest = json.loads(manifest_path.read_text())
            if not isinstance(manifest, dict):
                raise ValueError("manifest.json is not a JSON object")
            vectors = np.load(vectors_path, allow_pickle=False)
            if manifest.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {manifest.get('format')} != {FORMAT_VERSION}")
            if vectors.shape != (manifest["rows"], manifest["dim"]) or _sha256_array(vectors) != manifest["sha256"]:
                raise ValueError("vectors.npy does not match manifest.json")
            _check_entries(manifest["entries"], manifest["rows"])
            return manifest, vectors
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("registry index in %s is corrupt or partial (%s); rebuilding it", self.index_dir, e)
            return None, None

    def _scan_state(self) -> tuple:
        state = []
        for p in self.files():
            try:
                st = p.stat()
            except OSError:  # deleted while we look: the next scan sees it gone
                continue
            state.append((str(p), st.st_size, st.st_mtime_ns))
        return tuple(state)

    def sync(self, progress: bool = False) -> dict[str, int]:
        """Bring the index up to date with the folder; returns counts of ``added``, ``changed``, ``removed``,
        ``kept`` and ``failed`` files. Unreadable images are skipped with a warning; they are retried when the
        folder changes or in a new process."""
        embedder = self._require_embedder()
        with self._lock():
            manifest, vectors = self._read_index()
            variants = list(CANONICAL_VARIANTS)
            if manifest is not None and (manifest.get("embedder") != embedder.fingerprint
                                         or manifest.get("variants") != variants):
                log.warning("registry %s was indexed with another embedder; re-embedding everything", self.root)
                manifest, vectors = None, None
            old = {e["path"]: e for e in manifest["entries"]} if manifest else {}
            stats = dict(added=0, changed=0, removed=0, kept=0, failed=0)
            entries: list[dict | None] = []  # None: to embed, in `todo` order
            todo: list[tuple[Path, str, os.stat_result, str, str]] = []
            state, seen = [], set()
            metadata_changed = False
            for p in self.files():
                rel = p.relative_to(self.root).as_posix()
                prev = old.get(rel)
                try:
                    st = p.stat()
                    unchanged = prev and prev["size"] == st.st_size and prev["mtime_ns"] == st.st_mtime_ns
                    digest = prev["sha256"] if unchanged else file_sha256(p)
                except OSError as e:  # removed or unreadable while we scan
                    log.warning("registry: skipping %s (%s)", p, e)
                    continue
                state.append((str(p), st.st_size, st.st_mtime_ns))
                seen.add(rel)
                if prev and prev["sha256"] == digest:
                    metadata_changed |= not unchanged
                    entries.append({**prev, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
                    continue
                todo.append((p, rel, st, digest, "changed" if prev else "added"))
                entries.append(None)
            stats["removed"] = len(set(old) - seen)
            new_rows = iter(zip(todo, self._embed_files([t[0] for t in todo], progress), strict=True))
            blocks, out_entries, n_rows = [], [], 0
            for e in entries:
                if e is not None:
                    block = vectors[e["row"]: e["row"] + e["rows"]]
                    stats["kept"] += 1
                    entry = {**e, "row": n_rows}
                else:
                    (p, rel, st, digest, kind), block = next(new_rows)
                    if block is None:
                        stats["failed"] += 1
                        metadata_changed |= kind == "changed"  # its old rows are dropped
                        continue
                    stats[kind] += 1
                    entry = {"path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "sha256": digest, "row": n_rows, "rows": len(block)}
                blocks.append(block)
                out_entries.append(entry)
                n_rows += len(block)
            all_vectors = np.concatenate(blocks) if blocks else np.zeros((0, embedder.dim), np.float32)
            if manifest is None or metadata_changed or any(stats[k] for k in ("added", "changed", "removed")):
                self._write_index(out_entries, all_vectors, embedder, variants)
            self._load(out_entries, all_vectors)
            self._synced_state = tuple(state)
            self._checked_at = time.monotonic()
        return stats

    def rebuild(self, progress: bool = False) -> dict[str, int]:
        """Drop the index and re-embed every image."""
        with self._lock():
            for name in ("manifest.json", "vectors.npy", "index.faiss"):
                (self.index_dir / name).unlink(missing_ok=True)
        return self.sync(progress=progress)

    def _embed_files(self, files: Sequence[Path], progress: bool, chunk: int = 32) -> list[np.ndarray | None]:
        """Embeddings (variants, dim) per file, None for unreadable files; crops of many files share a batch."""
        from tqdm import tqdm

        embedder = self._require_embedder()
        out: list[np.ndarray | None] = []
        bar = tqdm(total=len(files), desc="embedding registry", unit="img", disable=not progress or len(files) < 20)
        for start in range(0, len(files), chunk):
            per_file: list[list[np.ndarray] | None] = []
            for p in files[start: start + chunk]:
                try:
                    per_file.append(canonical_variants(load_rgba(p)))
                except ImageReadError as e:
                    log.warning("registry: %s", e)
                    per_file.append(None)
            emb = embedder.embed([c for crops in per_file if crops for c in crops])
            offset = 0
            for crops in per_file:
                if crops is None:
                    out.append(None)
                    continue
                out.append(emb[offset: offset + len(crops)])
                offset += len(crops)
            bar.update(len(per_file))
        bar.close()
        return out

    def _write_index(self, entries: list[dict], vectors: np.ndarray, embedder: Embedder, variants: list[str]) -> None:
        import io

        import faiss

        buf = io.BytesIO()
        np.save(buf, vectors.astype(np.float32), allow_pickle=False)
        atomic_write_bytes(self.index_dir / "vectors.npy", buf.getvalue())
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors, np.float32))
        atomic_write_bytes(self.index_dir / "index.faiss", faiss.serialize_index(index).tobytes())
        manifest = {"format": FORMAT_VERSION, "embedder": embedder.fingerprint, "dim": int(vectors.shape[1]),
                    "variants": variants, "rows": int(len(vectors)), "sha256": _sha256_array(vectors),
                    "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "entries": entries}
        atomic_write_bytes(self.index_dir / "manifest.json", json.dumps(manifest, indent=1).encode())

    def _load(self, entries: list[dict], vectors: np.ndarray) -> None:
        import faiss

        self._vectors = np.ascontiguousarray(vectors, np.float32)
        self._row_paths = [e["path"] for e in entries for _ in range(e["rows"])]
        self._row_brands = np.array([p.split("/", 1)[0] for p in self._row_paths], dtype=object)
        dim = self._vectors.shape[1]
        index = None
        stored = self.index_dir / "index.faiss"
        if self.binary:
            index = faiss.IndexBinaryFlat(dim)
            index.add(np.packbits(self._vectors > 0, axis=1))
        elif stored.exists():
            with contextlib.suppress(RuntimeError):  # unreadable: rebuilt from vectors.npy below
                index = faiss.read_index(str(stored))
            if index is not None and (index.ntotal != len(self._vectors) or index.d != dim):
                index = None
        if index is None:
            index = faiss.IndexFlatIP(dim)
            index.add(self._vectors)
        self._index = index

    def _ensure_synced(self) -> None:
        if self._index is not None and time.monotonic() - self._checked_at < self.refresh_seconds:
            return
        if self._index is None or self._synced_state != self._scan_state():
            self.sync()
        self._checked_at = time.monotonic()

    def __len__(self) -> int:
        self._ensure_synced()
        return len(self._row_paths)

    @property
    def vectors(self) -> np.ndarray:
        self._ensure_synced()
        return self._vectors

    @property
    def row_brands(self) -> np.ndarray:
        self._ensure_synced()
        return self._row_brands

    @property
    def row_paths(self) -> list[str]:
        self._ensure_synced()
        return self._row_paths

    def search(self, emb: np.ndarray, k: int = 5, rows: int | None = None, refresh: bool = True) -> list[list[Match]]:
        """Top-``k`` brands per query, best first; a brand's score is its best similarity over its images.

        Args:
            emb: float32 (n, dim) L2-normalized query embeddings.
            k: brands returned per query.
            rows: nearest registry rows searched before grouping by brand (default ``max(64, 8 k)``).
            refresh: look for changes in the folder first (at most every ``refresh_seconds``); ``Pipeline.run``
                syncs once and then searches with ``refresh=False``.

        Returns:
            n lists of ``Match`` (fewer than k when the registry has fewer brands).
        """
        if refresh or self._index is None:
            self._ensure_synced()
        emb = np.ascontiguousarray(emb, np.float32)
        if emb.ndim != 2 or emb.shape[1] != self._vectors.shape[1]:
            raise RegistryMismatchError(f"query embeddings have shape {emb.shape}; registry dim is "
                                        f"{self._vectors.shape[1]}")
        if len(emb) == 0 or len(self._row_paths) == 0:
            return [[] for _ in range(len(emb))]
        n_rows = min(len(self._row_paths), rows or max(64, 8 * k))
        with faiss_threads(1 if len(emb) < 64 else None):
            if self.binary:
                # Hamming search over sign bits finds the candidates; their exact cosine keeps the similarity on
                # the same scale as float search (and as MatchConfig.min_sim)
                hamming, idx = self._index.search(np.packbits(emb > 0, axis=1), n_rows)
                if self.rescore:
                    sims = np.einsum("qkd,qd->qk", self._vectors[np.maximum(idx, 0)], emb)
                    order = np.argsort(-sims, axis=1, kind="stable")
                    idx, sims = np.take_along_axis(idx, order, 1), np.take_along_axis(sims, order, 1)
                else:
                    sims = np.cos(np.pi * hamming.astype(np.float32) / self._vectors.shape[1])
            else:
                sims, idx = self._index.search(emb, n_rows)
        results = []
        for srow, irow in zip(sims, idx, strict=True):
            best: dict[str, Match] = {}
            for s, i in zip(srow, irow, strict=True):
                if i < 0:
                    continue
                brand = self._row_brands[i]
                if brand not in best:  # rows come sorted by similarity: the first one per brand is its best
                    best[brand] = Match(brand, float(s), self._row_paths[i])
                    if len(best) == k:
                        break
            results.append(list(best.values()))
        return results
