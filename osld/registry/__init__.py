"""The brand registry: a plain folder of canonical logo images, one sub-folder per brand, indexed with faiss.

On-disk format (the one place it is described)::

    <registry>/<brand>/<any name>.{png,jpg,jpeg,webp,bmp}   canonical images; the folder name is the brand
    <registry>/.osld/manifest.json    format version, embedder fingerprint + dim, canonical variants and the hash
                                      of the code that draws them, checksums of
                                      vectors.npy and index.faiss, and one entry per image: relative path, size,
                                      mtime_ns, sha256, first row, rows
                                      and ``calibration``: impostor similarities (``osld.calibration``)
    <registry>/.osld/negatives.npz    cached embeddings of the shipped impostor crops (per embedder)
    <registry>/.osld/vectors.npy      float32 (rows, dim) L2-normalized embeddings, in manifest order
    <registry>/.osld/index.faiss      faiss IndexFlatIP over vectors.npy (inner product = cosine)
    <registry>/.osld/lock             file lock held while brand folders or the index are written

Each transparent canonical PNG is embedded as the variants in ``osld.embedder.preprocess.CANONICAL_VARIANTS``
(composited on white, on black, as grey on white, and as a chrome badge), so that a logo printed in any colour on
any background, or cast in metal, has a close neighbour; an opaque image is embedded once. A match to the chrome
row counts ``VARIANT_PENALTY`` less (``Registry.row_offsets``). The index is brought up to date on every use: only new
or changed files (size/mtime, then content hash) are embedded, deleted files drop out, and an index built by a
different embedder, or with other variants or an older drawing of them, is rebuilt from scratch. Every file is
written to a temporary name and renamed, the manifest last; on load ``vectors.npy``'s shape and checksum and
``index.faiss``'s checksum are checked against the manifest: a torn, corrupt, stale or swapped file is detected
and rebuilt (``index.faiss`` from ``vectors.npy``).

Brand names are normalized and compared as ``osld.registry.names`` documents (NFC, no invisible characters,
case-insensitive). Brand folders that resolve outside the registry (symlinks) are skipped and never written to.

Modules: ``names`` (brand-name rules), ``lock`` (writer lock, layout checks), ``index`` (the ``.osld`` files),
``search`` (brand grouping over faiss results), ``store`` (the ``Registry`` class), ``aliases`` (a brand's
other names in ``<brand>/aliases.txt``, read by ``osld.text``).
"""

from osld.registry.aliases import read_aliases
from osld.registry.index import FORMAT_VERSION, faiss_threads
from osld.registry.lock import INDEX_DIR
from osld.registry.names import brand_key, validate_brand
from osld.registry.search import Match
from osld.registry.store import REGISTRY_EXTENSIONS, Registry

__all__ = ["FORMAT_VERSION", "INDEX_DIR", "REGISTRY_EXTENSIONS", "Match", "Registry", "brand_key", "faiss_threads",
           "read_aliases", "validate_brand"]
