"""Other names of a brand, for matching the text read in a region (``osld.text``)."""

from __future__ import annotations

from pathlib import Path


def read_aliases(brand_dir: str | Path) -> list[str]:
    """Other names of a brand: ``<registry>/<brand>/aliases.txt``, one per line (blank lines and ``#`` comments
    skipped); [] when the file is absent."""
    path = Path(brand_dir) / "aliases.txt"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]
