"""Exposure report from ``osld detect`` JSONL: per-brand seconds on screen (video) or counts (photos), as CSV,
JSON, a timeline PNG and an HTML page."""

from osld.report.exposure import BrandExposure, ExposureReport, exposure, load_records
from osld.report.render import timeline_png, write_report

__all__ = ["BrandExposure", "ExposureReport", "exposure", "load_records", "timeline_png", "write_report"]
