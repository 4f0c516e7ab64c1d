"""The registry as workers see it during a distributed run: a read-only copy of the synced index.

The driver syncs the registry once (embeds new files, calibrates, writes ``.osld/``), then ships a
``RegistrySnapshot`` (vectors, row paths, calibration, embedder fingerprint: ~1 KB per registry image) through
Ray's object store. Every worker node keeps one copy in shared memory and each actor builds its faiss index from
it: no worker writes ``.osld/``, no worker needs the registry folder, and every image of a run is matched against
the same index even if someone adds a brand meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osld.errors import RegistryMismatchError
from osld.registry import Registry


@dataclass(frozen=True)
class RegistrySnapshot:
    """Everything ``Registry.search`` and the naming thresholds read, frozen after ``Registry.sync``.

    Attributes:
        root: the registry folder on the driver (read by workers only for ``--text``'s brand aliases).
        fingerprint: the embedder the vectors were made with; workers refuse to run with another one.
        vectors: float32 (rows, dim) L2-normalized embeddings.
        row_paths: per row, the image path relative to ``root`` (``<brand>/<file>``).
        calibration: impostor statistics for the accept threshold (``osld.calibration``).
        binary, rescore: search mode, as ``Registry``.
    """

    root: str
    fingerprint: str
    vectors: np.ndarray
    row_paths: tuple[str, ...]
    calibration: dict | None
    binary: bool = False
    rescore: bool = True

    @classmethod
    def of(cls, registry: Registry) -> RegistrySnapshot:
        """Snapshot a registry, syncing it first if this process has not yet."""
        vectors = registry.vectors  # syncs when needed
        return cls(str(registry.root), registry.embedder.fingerprint, np.ascontiguousarray(vectors, np.float32),
                   tuple(registry.row_paths), registry.calibration, registry.binary, registry.rescore)


class FrozenRegistry(Registry):
    """A ``Registry`` loaded from a ``RegistrySnapshot``: searches never look at the folder and ``sync`` writes
    nothing (``Pipeline.run`` calls it once per run)."""

    def __init__(self, snapshot: RegistrySnapshot):
        super().__init__(Path(snapshot.root), None, binary=snapshot.binary, rescore=snapshot.rescore)
        self.fingerprint = snapshot.fingerprint
        entries, paths = [], snapshot.row_paths
        start = 0
        for i in range(1, len(paths) + 1):  # consecutive rows of one image form one manifest-style entry
            if i == len(paths) or paths[i] != paths[start]:
                entries.append({"path": paths[start], "rows": i - start})
                start = i
        self.calibration = snapshot.calibration
        self._load(entries, snapshot.vectors, _flat_index(snapshot.vectors))

    def check_embedder(self, fingerprint: str) -> None:
        """Raise ``RegistryMismatchError`` unless this worker's embedder made the snapshot's vectors."""
        if fingerprint != self.fingerprint:
            raise RegistryMismatchError(f"the registry was embedded with embedder {self.fingerprint[:12]} on the "
                                        f"driver but this worker loads {fingerprint[:12]}: install the same osld "
                                        "weights on every node (or pass --embedder on shared storage)")

    def sync(self, progress: bool = False) -> dict[str, int]:
        return dict(added=0, changed=0, removed=0, kept=len(self._row_paths), failed=0)

    def _ensure_synced(self) -> None:
        return None


def _flat_index(vectors: np.ndarray):
    """The same ``IndexFlatIP`` ``Registry.sync`` writes to ``index.faiss`` (exact search over the vectors)."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, np.float32))
    return index
