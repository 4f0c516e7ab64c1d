"""``Registry``: a folder of canonical logos (one sub-folder per brand) and its faiss index (see the package doc)."""

from __future__ import annotations

import logging
import os
import shutil
import time
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from osld._onnx import file_sha256
from osld.calibration import calibrate, calibration_current
from osld.data.images import load_rgba
from osld.embedder import Embedder
from osld.embedder.preprocess import CANONICAL_VARIANTS, canonical_variants, drawing_fingerprint, variant_offsets
from osld.errors import ConfigError, ImageReadError, RegistryError
from osld.registry.index import load_flat_index, read_index, write_index
from osld.registry.lock import INDEX_DIR, check_writable_layout, registry_lock
from osld.registry.names import brand_key, find_brand_folder, validate_brand
from osld.registry.search import Match, search_brands

log = logging.getLogger("osld")

REGISTRY_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
REGISTRY_LAYOUT = ("a registry is a folder with one sub-folder of logo images per brand "
                   "(<registry>/<brand>/<logo>.png)")


def _row_layout(entries: list[dict]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per index row: the image path, its brand and its score offset (``variant_offsets``), from the manifest
    entries (``rows`` rows each, in row order)."""
    paths = [e["path"] for e in entries for _ in range(e["rows"])]
    # NFC: a folder created by hand on macOS has a decomposed name; results show the composed one
    brands = np.array([unicodedata.normalize("NFC", p.split("/", 1)[0]) for p in paths], dtype=object)
    return paths, brands, variant_offsets(e["rows"] for e in entries)


class Registry:
    """A folder of canonical logos and its faiss index.

    Args:
        root: the registry folder (created by ``add``).
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
        self._row_offsets: np.ndarray = np.zeros(0, np.float32)  # osld.embedder.preprocess.variant_offsets
        self._index = None
        self._synced_state: tuple | None = None
        self.calibration: dict | None = None  # impostor similarities for the accept threshold, set by sync

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
            brand = unicodedata.normalize("NFC", p.parent.name)
            out[brand] = out.get(brand, 0) + 1
        return out

    @staticmethod
    def _images_in(folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir()
                          if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in REGISTRY_EXTENSIONS)
        except OSError:
            return []

    def _outside(self, folder: Path) -> bool:
        """Whether ``folder``, a link, resolves to somewhere other than a direct child of the registry (a real
        folder listed in the registry is inside it: no ``resolve`` for those, scans stay cheap)."""
        return folder.is_symlink() and folder.resolve().parent != self.root.resolve()

    def files(self) -> list[Path]:
        """All canonical image files, sorted by (brand, name). Folders with invalid brand names, folders that
        resolve outside the registry and folders whose names differ from an earlier one only in case are skipped
        with a warning."""
        out: list[Path] = []
        if not self.root.is_dir():
            return out
        keys: dict[str, str] = {}
        for d in sorted(self.root.iterdir()):
            if not d.is_dir() or d.name.startswith("."):
                continue
            try:
                validate_brand(d.name)
                if self._outside(d):
                    raise ConfigError(f"it resolves to {d.resolve()}, outside the registry")
                if brand_key(d.name) in keys:
                    raise ConfigError(f"same brand as folder {keys[brand_key(d.name)]!r} (names compare "
                                      "case-insensitively); merge the two folders")
            except (ConfigError, OSError) as e:
                log.warning("skipping folder %s: %s", d, e)
                continue
            keys[brand_key(d.name)] = d.name
            out.extend(self._images_in(d))
        return out

    def _brand_folder(self, brand: str) -> Path:
        """The folder of ``brand``: an existing one with the same ``brand_key`` (kept as first typed), else new."""
        folder = find_brand_folder(self.root, brand) or self.root / brand
        if folder.is_symlink():
            raise RegistryError(f"brand folder {folder} is a link to {folder.resolve()}; osld only writes to "
                                "and deletes brand folders inside the registry")
        return folder

    def add(self, brand: str, images: Iterable[str | Path], sync: bool = True) -> list[Path]:
        """Copy images (files, or folders of images) into ``<root>/<brand>/`` and index only them.

        Every file is checked to decode before anything is written, so a failed add leaves the registry as it
        was. A name clash gets a numeric suffix unless the content is identical. ``brand`` joins an existing
        brand whose name differs only in case (see ``osld.registry.names``). Returns the registry paths of the
        added files (their parent is the brand folder as stored).

        Raises:
            ConfigError: invalid brand name, or no image given.
            ImageReadError: a given file is not a readable image.
            RegistryError: the registry layout is unusable (``.osld`` is a file, a linked brand folder...).
        """
        brand = validate_brand(brand)
        sources: list[Path] = []
        for item in images:
            p = Path(item)
            sources.extend(self._images_in(p) if p.is_dir() else [p])
        if not sources:
            raise ConfigError(f"no images given for brand {brand!r}")
        for src in sources:  # refuse unreadable files before anything lands in the registry
            if src.suffix.lower() not in REGISTRY_EXTENSIONS:
                raise ImageReadError(f"{src}: registry images must be one of {sorted(REGISTRY_EXTENSIONS)}")
            load_rgba(src)
        # the folder lookup, the free-name check and the rename happen under the lock: concurrent adds of the
        # same file names into one brand each get their own name
        with registry_lock(self.root):
            folder = self._brand_folder(brand)
            created = not folder.exists()
            try:
                folder.mkdir(exist_ok=True)
                added = [self._copy_in(src, folder) for src in sources]
            except OSError as e:
                if created:
                    shutil.rmtree(folder, ignore_errors=True)
                raise RegistryError(f"cannot copy into {folder}: {e.strerror or e}") from e
        if sync and self.embedder is not None:
            self.sync()
        return added

    @staticmethod
    def _copy_in(src: Path, folder: Path) -> Path:
        """Copy ``src`` to a free name in ``folder`` (or return the identical file already there). Lock held."""
        dst = folder / src.name
        src_digest = file_sha256(src) if dst.exists() else None
        n = 1
        while dst.exists():
            if dst.is_file() and file_sha256(dst) == src_digest:
                return dst
            dst = folder / f"{src.stem}_{n}{src.suffix}"
            n += 1
        tmp = folder / f".{dst.name}.{os.getpid()}.tmp"
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
        return dst

    def remove(self, brand: str) -> int:
        """Delete a brand folder (matched case-insensitively) and its rows; returns the number of images removed."""
        brand = validate_brand(brand)
        if find_brand_folder(self.root, brand) is None:  # checked before the lock creates .osld/
            raise RegistryError(f"brand {brand!r} is not in registry {self.root}")
        with registry_lock(self.root):
            folder = self._brand_folder(brand)
            if not folder.is_dir():  # removed meanwhile
                raise RegistryError(f"brand {brand!r} is not in registry {self.root}")
            n = len(self._images_in(folder))
            shutil.rmtree(folder)
        if self.embedder is not None:
            self.sync()
        return n

    # ---------- index ----------
    def _require_embedder(self) -> Embedder:
        if self.embedder is None:
            raise RegistryError("this operation needs an embedder: Registry(path, embedder=...)")
        return self.embedder

    def _scan_state(self) -> tuple:
        state = []
        for p in self.files():
            try:
                st = p.stat()
            except OSError:  # deleted while we look: the next scan sees it gone
                continue
            state.append((str(p), st.st_size, st.st_mtime_ns))
        return tuple(state)

    def _check_is_registry(self) -> None:
        """Refuse to create ``.osld/`` in a folder that is no registry (e.g. ``--registry`` pointed at photos)."""
        check_writable_layout(self.root)
        if not self.index_dir.is_dir() and not self.files():
            what = "does not exist" if not self.root.exists() else "has no brand sub-folders with images"
            raise RegistryError(f"{self.root} is not a registry: it {what}; {REGISTRY_LAYOUT}. Start one with "
                                f"`osld register BRAND IMAGES --registry {self.root}`")

    def sync(self, progress: bool = False) -> dict[str, int]:
        """Bring the index up to date with the folder; returns counts of ``added``, ``changed``, ``removed``,
        ``kept`` and ``failed`` files. Unreadable images are skipped with a warning; they are retried when the
        folder changes or in a new process.

        Raises:
            RegistryError: ``root`` has neither an index nor brand folders with images (nothing is written), or
                ``.osld`` is not a folder.
        """
        embedder = self._require_embedder()
        self._check_is_registry()
        with registry_lock(self.root):
            manifest, vectors = read_index(self.index_dir)
            variants, drawing = list(CANONICAL_VARIANTS), drawing_fingerprint()
            if manifest is not None and manifest.get("embedder") != embedder.fingerprint:
                log.warning("registry %s was indexed with another embedder; re-embedding everything", self.root)
                manifest, vectors = None, None
            elif manifest is not None and (manifest.get("variants"), manifest.get("drawing")) != (variants, drawing):
                log.warning("registry %s was indexed with other canonical variants or an older drawing of them; "
                            "re-embedding everything", self.root)
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
            changed = manifest is None or metadata_changed or any(stats[k] for k in ("added", "changed", "removed"))
            calib = None if changed else manifest.get("calibration")
            if not calibration_current(calib, embedder):  # impostor statistics of this registry (osld.calibration)
                _, brands, offsets = _row_layout(out_entries)
                calib = calibrate(all_vectors, brands, embedder, self.index_dir, offsets)
                changed = True
            if changed:
                index = write_index(self.index_dir, out_entries, all_vectors, embedder.fingerprint, variants, drawing,
                                    calib)
            else:  # unchanged: the stored index, if its checksum says it belongs to these vectors
                index = load_flat_index(self.index_dir, manifest, all_vectors)
            self.calibration = calib
            self._load(out_entries, all_vectors, index)
            self._synced_state = tuple(state)
            self._checked_at = time.monotonic()
        return stats

    def rebuild(self, progress: bool = False) -> dict[str, int]:
        """Drop the index and re-embed every image."""
        self._check_is_registry()
        with registry_lock(self.root):
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

    def _load(self, entries: list[dict], vectors: np.ndarray, flat_index) -> None:
        import faiss

        self._vectors = np.ascontiguousarray(vectors, np.float32)
        self._row_paths, self._row_brands, self._row_offsets = _row_layout(entries)
        if self.binary:
            index = faiss.IndexBinaryFlat(self._vectors.shape[1])
            index.add(np.packbits(self._vectors > 0, axis=1))
            self._index = index
        else:
            self._index = flat_index

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
    def row_offsets(self) -> np.ndarray:
        """Per row, what a match to it loses in search (``osld.embedder.preprocess.VARIANT_PENALTY``)."""
        self._ensure_synced()
        return self._row_offsets

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
        return search_brands(self._index, self._vectors, self._row_brands, self._row_paths, emb, k, rows,
                             self.binary, self.rescore, self._row_offsets)
