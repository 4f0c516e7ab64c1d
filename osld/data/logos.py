"""The canonical-logo catalogue in ``../shared/data/logos`` (training only; never read at inference)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path


def normalize_brand(name: str) -> str:
    """Brand key as used by the shared manifest: lowercase letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def real_brand_key(label: str) -> str:
    """``louis_vuitton_1`` -> ``louisvuitton``: the manifest's brand key for a real set's brand label (LogoDet-3K
    numbers the logo variants of one brand; they name one brand)."""
    return normalize_brand(re.sub(r"_\d+$", "", label))


@dataclass(frozen=True)
class CanonicalLogo:
    brand: str
    source: str
    path: Path


def read_heldout(path: str | Path) -> set[str]:
    return {normalize_brand(line) for line in Path(path).read_text().splitlines() if line.strip()}


def read_catalogue(logos_dir: str | Path, exclude: set[str] | None = None) -> list[CanonicalLogo]:
    """Rows of ``manifest.csv`` as ``CanonicalLogo``, minus brands in ``exclude`` (normalized keys)."""
    logos_dir = Path(logos_dir)
    exclude = exclude or set()
    out = []
    with open(logos_dir / "manifest.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            brand = normalize_brand(row["brand"])
            if brand in exclude or normalize_brand(row.get("brand_name", "")) in exclude:
                continue
            out.append(CanonicalLogo(brand=brand, source=row["source"], path=logos_dir / row["path"]))
    return out


def by_brand(logos: list[CanonicalLogo]) -> dict[str, list[CanonicalLogo]]:
    groups: dict[str, list[CanonicalLogo]] = {}
    for logo in logos:
        groups.setdefault(logo.brand, []).append(logo)
    return groups
