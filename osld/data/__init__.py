"""Data helpers: robust image loading, dataset formats, synthetic scene generation."""

from osld.data.images import IMAGE_EXTENSIONS, iter_image_files, load_image

__all__ = ["IMAGE_EXTENSIONS", "iter_image_files", "load_image"]
