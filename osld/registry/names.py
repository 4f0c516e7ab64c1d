"""Brand names: what a brand folder may be called, and when two names are the same brand.

Rules (the one place they are decided; the README repeats them):

* A name is stored in Unicode NFC, with surrounding whitespace removed (the stored name is what every message
  shows), so a composed and a decomposed ``é`` are the same brand.
* Invisible and layout characters are refused: control (Cc), format (Cf: zero-width space/joiner, bidi
  controls, soft hyphen...), line/paragraph separators (Zl/Zp), surrogates, private-use and unassigned code
  points. ``nike\\u200b`` would print like ``nike`` and be another brand.
* Path separators, ``.``/``..``, a leading ``.``, and names over 200 bytes are refused (nothing may be written
  outside the registry).
* Names compare case-insensitively (Unicode casefold): ``Nike`` and ``nike`` are one brand. The folder keeps the
  case it was first registered with, and results show that folder name. ``unknown`` (any case) is reserved.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from osld.errors import ConfigError

# control, format (zero-width, bidi), line/paragraph separators, surrogates, private use, unassigned
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
MAX_BRAND_BYTES = 200


def validate_brand(name: str) -> str:
    """Return the stored form of ``name`` (NFC, stripped) if it is a safe brand name, else raise ``ConfigError``."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name or name in (".", ".."):
        raise ConfigError(f"invalid brand name {name!r}: empty or a relative path")
    if name.startswith("."):
        raise ConfigError(f"invalid brand name {name!r}: must not start with '.'")
    if any(sep in name for sep in ("/", "\\", "\x00")):
        raise ConfigError(f"invalid brand name {name!r}: no path separators")
    bad = sorted({c for c in name if unicodedata.category(c) in _REFUSED_CATEGORIES})
    if bad:
        codes = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, unicodedata.category(c))}" for c in bad)
        raise ConfigError(f"invalid brand name {name!r}: no control, invisible or layout characters ({codes})")
    if brand_key(name) == "unknown":
        raise ConfigError("'unknown' is reserved for unmatched regions; choose another brand name")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_BRAND_BYTES:
        raise ConfigError(f"invalid brand name {name[:40]!r}...: longer than {MAX_BRAND_BYTES} bytes")
    return name


def brand_key(name: str) -> str:
    """The identity of a brand name: NFC + casefold (``Nike``, ``NIKE`` and ``nike`` are one brand)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).strip().casefold())


def find_brand_folder(root: Path, brand: str) -> Path | None:
    """The existing folder of ``brand`` in ``root`` (compared with ``brand_key``), or None."""
    key = brand_key(brand)
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return None
    for d in entries:
        if not d.name.startswith(".") and brand_key(d.name) == key and (d.is_dir() or d.is_symlink()):
            return d
    return None
