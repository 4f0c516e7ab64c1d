"""Exception hierarchy: every error osld raises on purpose is an ``OsldError``."""

from __future__ import annotations


class OsldError(Exception):
    """Base class; the CLI prints these as one line and exits 1."""


class ConfigError(OsldError, ValueError):
    """An option or config value is invalid."""


class ImageReadError(OsldError, ValueError):
    """A file could not be decoded as an image (corrupt, truncated, too large, not an image)."""


class RegistryError(OsldError):
    """The registry folder or its index is unusable."""


class RegistryMismatchError(RegistryError):
    """The registry index was built with a different embedder."""


class ModelLoadError(OsldError):
    """A weights file is missing or does not have the expected inputs/outputs."""


class CheckpointError(ModelLoadError):
    """A training checkpoint is missing, corrupt or not one of osld's (never unpickled as code)."""


class MissingDependencyError(OsldError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


class DatasetError(OsldError, ValueError):
    """An evaluation or training dataset does not follow its expected layout."""


class OsldWarning(UserWarning):
    """Warnings emitted by osld."""
