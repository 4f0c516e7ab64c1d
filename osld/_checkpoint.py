"""Training checkpoints as plain tensors: saved atomically, loaded with ``weights_only=True`` (no code runs)."""

from __future__ import annotations

from pathlib import Path

from osld._io import atomic_write_bytes
from osld.errors import CheckpointError


def save_checkpoint(obj: dict, path: Path) -> Path:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, kind: str, required: str) -> dict:
    """The dict in ``path``; a one-line ``CheckpointError`` naming ``kind`` if it is missing, not a torch file,
    needs code to unpickle, or lacks the ``required`` key."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a loadable osld {kind} checkpoint ({first[:160]})") from e
    if not isinstance(ckpt, dict) or required not in ckpt:
        raise CheckpointError(f"{path}: not an osld {kind} checkpoint (no {required})")
    return ckpt
