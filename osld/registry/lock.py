"""The registry's writer lock and the checks that must pass before anything is written into ``.osld/``."""

from __future__ import annotations

from pathlib import Path

from osld.errors import RegistryError

INDEX_DIR = ".osld"
LOCK_TIMEOUT_S = 600


def check_writable_layout(root: Path) -> None:
    """Raise a one-line ``RegistryError`` if ``root`` or ``root/.osld`` exists but is not a folder."""
    if root.exists() and not root.is_dir():
        raise RegistryError(f"registry {root} is a file, not a folder")
    index_dir = root / INDEX_DIR
    if (index_dir.exists() or index_dir.is_symlink()) and not index_dir.is_dir():
        raise RegistryError(f"{index_dir} is a file, but osld keeps the registry index in a folder of that name; "
                            "move or delete the file")


def registry_lock(root: Path):
    """An inter-process lock (``filelock``) on ``root/.osld/lock``, held while brand folders or the index change."""
    from filelock import FileLock

    check_writable_layout(root)
    (root / INDEX_DIR).mkdir(parents=True, exist_ok=True)
    return FileLock(str(root / INDEX_DIR / "lock"), timeout=LOCK_TIMEOUT_S)
