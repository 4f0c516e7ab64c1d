"""Where a distributed run's records go: ``osld detect``'s JSONL file, or a folder of Parquet part files.

Parquet output is a folder ``OUT/`` of ``part-000000.parquet``, ``part-000001.parquet``, ... (read it whole with
``pandas.read_parquet(OUT)`` or ``pyarrow.dataset``). Each part holds ``part_rows`` consecutive records in input
order and is written atomically (temporary file, then rename), so an interrupted run leaves only whole parts and
``--resume`` redoes at most the records of the part being filled. Columns: ``image``, ``width``, ``height``,
``detections`` (a list of structs with the JSONL fields), ``error``, ``abspath``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from osld._io import atomic_write_bytes
from osld.errors import OsldError
from osld.summary import RunSummary
from osld.types import UNKNOWN

_PART = re.compile(r"^part-(\d{6,})\.parquet$")


def record_schema():
    """The Arrow schema of a record (JSONL fields; ``text*`` are null unless the run used ``--text``)."""
    import pyarrow as pa

    alt = pa.struct([("brand", pa.string()), ("similarity", pa.float64())])
    det = pa.struct([("box", pa.list_(pa.float64())), ("confidence", pa.float64()), ("score", pa.float64()),
                     ("brand", pa.string()), ("similarity", pa.float64()), ("alternatives", pa.list_(alt)),
                     ("text", pa.string()), ("text_brand", pa.string()), ("text_score", pa.float64())])
    return pa.schema([("image", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
                      ("detections", pa.list_(det)), ("error", pa.string()), ("abspath", pa.string())])


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _PART.match(p.name)) if folder.is_dir() else []


def done_parquet(folder: str | Path) -> set[str]:
    """``abspath`` of every record in the whole parts of ``folder`` (for ``--resume``)."""
    import pyarrow.parquet as pq

    done: set[str] = set()
    for part in _parts(Path(folder)):
        done.update(pq.read_table(part, columns=["abspath"]).column("abspath").to_pylist())
    return done


class ParquetPartsWriter:
    """Buffers records and writes every ``part_rows`` of them as the next part file (and the rest on close).

    Args:
        folder: output folder (created; must not be a file).
        append: keep existing parts and number new ones after them (resume); otherwise existing parts are
            removed first.
        part_rows: records per part: the most a crash can cost a resumed run.
    """

    def __init__(self, folder: str | Path, append: bool = False, part_rows: int = 10_000):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise OsldError(f"{self.folder}: --format parquet writes a folder of part files; this is a file")
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = _parts(self.folder)
        if not append:
            for p in existing:
                p.unlink()
            existing = []
        self._next = max((int(_PART.match(p.name).group(1)) + 1 for p in existing), default=0)
        self.part_rows = part_rows
        self._rows: list[dict[str, Any]] = []

    def write_record(self, record: dict[str, Any]) -> None:
        self._rows.append(record)
        if len(self._rows) >= self.part_rows:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records as one part (nothing if the buffer is empty)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=record_schema())
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write_bytes(self.folder / f"part-{self._next:06d}.parquet", sink.getvalue().to_pybytes())
        self._next += 1
        self._rows = []

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> ParquetPartsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also after Ctrl-C: the records received so far are kept as a last part


def add_record(summary: RunSummary, record: dict[str, Any]) -> None:
    """``RunSummary.add`` from a record instead of ``Detections`` (the driver of a distributed run holds records)."""
    summary.images += 1
    if record.get("error"):
        summary.failed += 1
        return
    brands = [d["brand"] for d in record["detections"]]
    summary.boxes += len(brands)
    summary.brands.update(b for b in brands if b != UNKNOWN)
    summary.unknown += sum(b == UNKNOWN for b in brands)
