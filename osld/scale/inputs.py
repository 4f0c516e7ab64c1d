"""What a distributed run reads: image files from folders and list files, each with the path as the user gave it.

A list file is a ``.txt``/``.lst`` file (one path per line; blank lines and lines starting with ``#`` ignored) or a
``.csv``/``.parquet`` table, whose column ``path`` (else ``image``, else the first column) holds the paths.
Relative paths in a list file are relative to the list file's folder, so a list beside its images works from any
working directory. List entries are taken as they are: the driver does not stat them (on shared storage a stat of
millions of files is the slow part); a missing one gets an error record from the worker that tries to read it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from osld.errors import OsldError

LIST_SUFFIXES = frozenset({".txt", ".lst", ".csv", ".parquet"})
PATH_COLUMNS = ("path", "image")


@dataclass(frozen=True)
class InputItem:
    """One image to process: ``image`` as given (the record's ``image``), ``abspath`` what workers open and what
    ``--resume`` matches."""

    image: str
    abspath: str


def is_list_file(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.suffix.lower() in LIST_SUFFIXES and p.is_file()


def read_list_file(path: str | os.PathLike) -> list[str]:
    """The paths in a list file (see the module docstring), relative ones joined to the list file's folder.

    Raises:
        OsldError: unreadable file, a table without rows/columns, or a table whose path column is not text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".txt", ".lst"):
            lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
            entries = [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]
        else:
            entries = _table_column(path, suffix)
    except OSError as e:
        raise OsldError(f"{path}: cannot read list file ({e.strerror or e})") from e
    base = path.parent
    return [e if os.path.isabs(e) else os.path.join(base, e) for e in entries]


def _table_column(path: Path, suffix: str) -> list[str]:
    import pyarrow as pa

    try:
        if suffix == ".csv":
            from pyarrow import csv

            table = csv.read_csv(path)
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
    except pa.ArrowInvalid as e:
        raise OsldError(f"{path}: not a readable {suffix[1:]} table ({' '.join(str(e).split())[:160]})") from e
    if not table.column_names:
        raise OsldError(f"{path}: the table has no columns")
    name = next((c for c in PATH_COLUMNS if c in table.column_names), table.column_names[0])
    column = table.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise OsldError(f"{path}: column {name!r} holds {column.type}, not paths; name the path column 'path'")
    return [v for v in column.to_pylist() if v]


def collect_inputs(inputs: Sequence[str | os.PathLike], skipped: list[Path] | None = None) -> list[InputItem]:
    """Images from files, folders (recursive, sorted per folder, as ``osld detect``) and list files, in order.

    ``skipped`` collects folder files whose extension osld does not read (``describe_skipped``).
    """
    from osld.data.images import iter_image_files

    items: list[InputItem] = []
    plain: list[Path] = []

    def flush() -> None:
        items.extend(_items(str(p) for p in iter_image_files(plain, skipped=skipped)))
        plain.clear()

    for entry in inputs:
        if is_list_file(entry):
            flush()  # keep the order in which inputs were given
            items.extend(_items(read_list_file(entry)))
        else:
            plain.append(Path(entry))
    flush()
    return items


def _items(paths: Iterable[str]) -> list[InputItem]:
    return [InputItem(p, os.path.abspath(p)) for p in paths]
