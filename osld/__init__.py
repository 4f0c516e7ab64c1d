"""osld: open-set logo detection.

A class-agnostic detector proposes logo regions, a metric-learning embedder embeds them, and a folder registry
of canonical logos (searched with faiss) names each region's brand, or ``unknown``.
"""

__version__ = "0.1.0"

from osld.errors import OsldError
from osld.types import UNKNOWN, Detections

__all__ = ["UNKNOWN", "Detections", "OsldError", "Pipeline", "Registry", "load_detector", "load_embedder",
           "__version__"]


def __getattr__(name: str):
    # Lazy so that `import osld` stays light (no onnxruntime/faiss import until used).
    if name == "Pipeline":
        from osld.pipeline import Pipeline

        return Pipeline
    if name == "Registry":
        from osld.registry import Registry

        return Registry
    if name == "load_detector":
        from osld.detector import load_detector

        return load_detector
    if name == "load_embedder":
        from osld.embedder import load_embedder

        return load_embedder
    raise AttributeError(f"module 'osld' has no attribute {name!r}")
