"""onnxruntime sessions: provider choice (CUDA when present, else CPU with one log line), threads, IO checks."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from osld.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger("osld")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def create_session(path: str | Path, device: str = "auto", threads: int | None = None,
                   expect_inputs: int = 1, expect_outputs: int = 1):
    """An ``InferenceSession`` for ``path``, checked for the expected number of inputs and outputs.

    Args:
        device: ``auto`` (CUDA if onnxruntime-gpu sees a GPU, else CPU), ``cpu`` or ``cuda``.
        threads: intra-op threads; default = all cores.
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise MissingDependencyError("onnxruntime is required: pip install onnxruntime (or osld[gpu])") from e
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ModelLoadError("device=cuda but onnxruntime has no CUDAExecutionProvider (pip install osld[gpu])")
    providers = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own untyped exceptions for bad files
        raise ModelLoadError(f"{path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]})") from e
    if device == "auto" and "CUDAExecutionProvider" in available and \
            session.get_providers()[0] != "CUDAExecutionProvider":
        log.info("CUDA provider unavailable at run time; running %s on CPU", path.name)
    n_in, n_out = len(session.get_inputs()), len(session.get_outputs())
    if n_in != expect_inputs or n_out != expect_outputs:
        raise ModelLoadError(f"{path}: expected {expect_inputs} input(s) and {expect_outputs} output(s), "
                             f"got {n_in} and {n_out}; is this the right model file?")
    return session
