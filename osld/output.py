"""Result writers: JSON Lines (one record per image, flushed per image, resumable) and CSV (one row per box).

``--resume`` matches images by ``abspath`` (the absolute path when the record was written, so a resumed run may
start from another working directory; ``image`` stays as the user typed it). A CSV image counts as done only when
all of its ``image_rows`` rows are there: a torn multi-row write is cut off and the image redone.

File names that are not valid UTF-8 (Python keeps their bytes as lone surrogates) never crash a writer: a JSONL
record holding one is written with ``\\uXXXX`` escapes (``ensure_ascii``), which ``json.loads`` turns back into
the same ``str``; a CSV file keeps the original bytes (``surrogateescape``), so ``--resume`` still matches them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import IO, Any

from osld.types import Detections

CSV_FIELDS = ["image", "width", "height", "x1", "y1", "x2", "y2", "confidence", "score", "brand", "similarity",
              "alternatives", "error", "abspath", "image_rows"]


def to_record(path: str | Path, detections: Detections | None, error: str | None) -> dict[str, Any]:
    """The JSONL record of one image (schema in the README)."""
    meta = detections.metadata if detections is not None else {}
    return {
        "image": str(path),
        "width": meta.get("width"),
        "height": meta.get("height"),
        "detections": detections.to_records() if detections is not None else [],
        "error": error,
    }


def _repair_tail(path: Path) -> None:
    """Drop a torn last line (a kill -9 in the middle of a write) so appending stays valid."""
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        cut = data.rfind(b"\n") + 1
        f.truncate(cut)


def _record_key(image: str, abspath: str | None) -> str:
    return abspath or image  # files written before ``abspath`` existed: the path as typed


def _csv_done(path: Path) -> set[str]:
    """Images whose rows are all in the CSV; a torn last image (fewer rows than its ``image_rows``) is cut off."""
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    sio = io.StringIO(text, newline="")
    reader = csv.reader(sio)
    header = next(reader, None)
    if not header:
        return set()
    col = {name: i for i, name in enumerate(header)}
    groups: list[list] = []  # [key, start offset, rows seen, rows expected or None], consecutive rows of one image
    while True:
        start = sio.tell()
        row = next(reader, None)
        if row is None:
            break
        if len(row) != len(header):
            continue
        key = _record_key(row[col["image"]], row[col["abspath"]] if "abspath" in col else None)
        n = row[col["image_rows"]] if "image_rows" in col else ""
        expected = int(n) if n.isdigit() else None
        if groups and groups[-1][0] == key:
            groups[-1][2] += 1
        else:
            groups.append([key, start, 1, expected])
    if groups and groups[-1][3] is not None and groups[-1][2] < groups[-1][3]:
        # interrupted in the middle of one image's rows: drop them so the resumed run writes the image whole
        with open(path, "rb+") as f:
            f.truncate(len(text[: groups[-1][1]].encode("utf-8", "surrogateescape")))
        groups.pop()
    return {g[0] for g in groups if g[3] is None or g[2] >= g[3]}


def done_images(path: str | Path, fmt: str = "jsonl") -> set[str]:
    """Images already written to an existing output file (for ``--resume``): their ``abspath`` (or, in files
    from older versions, ``image``). Repairs a torn tail so that appending stays valid."""
    path = Path(path)
    if not path.exists():
        return set()
    _repair_tail(path)
    if fmt != "jsonl":
        return _csv_done(path)
    done = set()
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            try:
                rec = json.loads(line)
                done.add(_record_key(rec["image"], rec.get("abspath")))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue
    return done


class ResultWriter:
    """Appends one image's results at a time and flushes + fsyncs them, so nothing is lost on a crash.

    Args:
        path: output file, or None for stdout.
        fmt: ``jsonl`` or ``csv``.
        append: keep existing content (resume); otherwise the file is replaced.
    """

    def __init__(self, path: str | Path | None, fmt: str = "jsonl", append: bool = False):
        self.fmt = fmt
        self.path = Path(path) if path else None
        self._fh: IO[str]
        if self.path is None:
            import sys

            self._fh = sys.stdout
            self._own = False
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            exists = self.path.exists() and self.path.stat().st_size > 0
            self._fh = open(self.path, "a" if append else "w", newline="", encoding="utf-8",  # noqa: SIM115
                            errors="surrogateescape" if fmt == "csv" else "strict")
            self._own = True
            append = append and exists
        self._csv = None
        self._buf = io.StringIO()
        if fmt == "csv":
            fields = CSV_FIELDS
            if append:  # keep an existing file's columns (one written before abspath/image_rows existed)
                with open(self.path, newline="", encoding="utf-8", errors="surrogateescape") as f:
                    fields = next(csv.reader(f), None) or CSV_FIELDS
            self._csv = csv.DictWriter(self._buf, fieldnames=fields, extrasaction="ignore")
            if not append:
                self._csv.writeheader()
                self._emit(self._take())

    def _take(self) -> str:
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return text

    def _encodable(self, text: str) -> bool:
        try:
            text.encode(getattr(self._fh, "encoding", None) or "utf-8", getattr(self._fh, "errors", None) or "strict")
        except (UnicodeEncodeError, LookupError):
            return False
        return True

    def _emit(self, text: str) -> None:
        """Write ``text`` whole (one record), escaping what the stream's encoding cannot hold."""
        if not self._encodable(text):
            enc = getattr(self._fh, "encoding", None) or "utf-8"
            text = text.encode(enc, "backslashreplace").decode(enc)
        self._fh.write(text)

    def write(self, path: str | Path, detections: Detections | None, error: str | None) -> None:
        """Append one image's record(s), then flush and fsync (a crash loses at most the record being written)."""
        record = to_record(path, detections, error)
        abspath = os.path.abspath(path)
        if self._csv is None:
            record["abspath"] = abspath
            line = json.dumps(record, ensure_ascii=False) + "\n"
            if not self._encodable(line):  # e.g. a non-UTF-8 file name: exact, reversible \uXXXX escapes
                line = json.dumps(record) + "\n"
            self._fh.write(line)
        else:
            rows = record["detections"] or [{}]  # an image with no box still gets one row
            base = {"image": record["image"], "width": record["width"], "height": record["height"], "error": error,
                    "abspath": abspath, "image_rows": len(rows)}
            for d in rows:
                box = d.get("box", [None] * 4)
                self._csv.writerow({**base, "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3],
                                    "confidence": d.get("confidence"), "score": d.get("score"), "brand": d.get("brand"),
                                    "similarity": d.get("similarity"),
                                    "alternatives": ";".join(f"{a['brand']}:{a['similarity']}"
                                                             for a in d.get("alternatives", []))})
            self._emit(self._take())
        self._fh.flush()
        if self._own:
            os.fsync(self._fh.fileno())

    def write_record(self, record: dict[str, Any]) -> None:
        """Append one ready-made JSONL record (e.g. a video frame's), then flush and fsync."""
        if self._csv is not None:
            raise ValueError("write_record writes JSONL only")
        line = json.dumps(record, ensure_ascii=False) + "\n"
        if not self._encodable(line):
            line = json.dumps(record) + "\n"
        self._fh.write(line)
        self._fh.flush()
        if self._own:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._own:
            self._fh.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
