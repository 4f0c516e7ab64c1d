"""Training checkpoints as plain tensors: saved atomically, loaded with ``weights_only=True`` (no code runs)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from osld._io import atomic_write_bytes
from osld.errors import CheckpointError, ConfigError


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


def average_checkpoints(checkpoints: Sequence[str | Path], out: str | Path, kind: str, weights: str,
                        same: Sequence[str] = ()) -> Path:
    """Write the element-wise mean of the ``weights`` tensors of compact ``kind`` checkpoints (a "model soup",
    Wortsman et al. 2022), each cast back to the last checkpoint's dtype. Every other field is the last
    checkpoint's; ``averaged_from`` names the inputs. Checkpoints whose tensor names or shapes differ, or whose
    ``same`` fields differ from the last one's, are refused with a one-line ``CheckpointError``."""
    if len(checkpoints) < 2:
        raise ConfigError("average_checkpoints: give at least two checkpoints")
    states = [load_checkpoint(c, kind, weights) for c in checkpoints]
    last = states[-1]
    for path, state in zip(checkpoints, states, strict=True):
        tensors = state[weights]
        if (tensors.keys() != last[weights].keys() or any(state.get(f) != last.get(f) for f in same)
                or any(tensors[k].shape != t.shape for k, t in last[weights].items())):
            raise CheckpointError(f"{path}: not the same architecture as {checkpoints[-1]}")
    mean = {k: (sum(s[weights][k].float() for s in states) / len(states)).to(t.dtype) for k, t in last[weights].items()}
    averaged = dict(last, **{weights: mean}, averaged_from=json.dumps([Path(c).name for c in checkpoints]))
    return save_checkpoint(averaged, Path(out))
