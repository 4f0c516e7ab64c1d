"""Write an ``ExposureReport``: CSV + JSON tables, a timeline PNG (matplotlib) and an HTML page with thumbnails."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from osld._io import atomic_write_bytes, atomic_write_text
from osld.report.exposure import BrandExposure, ExposureReport, exposure, load_records, report_paths

CSV_FIELDS = [f.name for f in fields(BrandExposure) if f.name != "best"]


def _csv_text(rep: ExposureReport) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for row in rep.brands:
        w.writerow(asdict(row))
    return buf.getvalue()


def timeline_png(rep: ExposureReport, path: str | os.PathLike) -> Path:
    """Brands on the y axis, time (video) or photo number (photos) on x; one panel per video / photo set."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display needed; leaves an interactive backend alone if one is set
    from matplotlib.figure import Figure

    panels: list[tuple[str, dict[str, list[tuple[float, float]]], str]] = [
        (Path(v).name, rep.intervals.get(v, {}), "seconds") for v in rep.videos]
    if rep.photo_hits:
        panels.append(("photos", {b: [(i, 1.0) for i in hits] for b, hits in rep.photo_hits.items()}, "photo #"))
    order = [r.brand for r in rep.brands]
    n_brands = max(1, len(order))
    fig = Figure(figsize=(10, 1.0 + 0.35 * n_brands * max(1, len(panels))), dpi=100)
    axes = fig.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
    colours = [matplotlib.colormaps["tab10"](i % 10) for i in range(n_brands)]
    for ax, (title, data, unit) in zip(axes, panels or [("no detections", {}, "seconds")], strict=False):
        for y, brand in enumerate(order):
            ivs = data.get(brand, [])
            if ivs:
                ax.broken_barh([(a, b - a if unit == "seconds" else b) for a, b in ivs], (y - 0.35, 0.7),
                               color=colours[y])
        ax.set_yticks(range(len(order)), order)
        ax.set_ylim(-0.6, n_brands - 0.4)
        ax.invert_yaxis()
        if unit == "seconds" and title in {Path(v).name for v in rep.videos}:
            dur = next(v["duration_s"] for k, v in rep.videos.items() if Path(k).name == title)
            ax.set_xlim(0, max(dur, 1e-3))
        ax.set_xlabel(unit)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


def _read_frame(source: str, frame: int | None) -> np.ndarray | None:
    """RGB pixels of a video frame or a photo, or None if the file is gone or unreadable."""
    if frame is None:
        from osld.data.images import load_image
        from osld.errors import OsldError

        try:
            loaded = load_image(Path(source), None)
        except OsldError:
            return None
        return loaded.pixels
    cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            return None
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame)  # OpenCV's FFmpeg backend decodes forward to the exact frame
        ok, bgr = cap.read()
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None
    finally:
        cap.release()


def thumbnail(best: dict[str, Any], width: int = 320) -> bytes | None:
    """JPEG of the best frame with its box drawn, ``width`` pixels wide; None if the source cannot be read."""
    img = _read_frame(best["source"], best.get("frame"))
    if img is None:
        return None
    x1, y1, x2, y2 = (int(round(v)) for v in best["box"])
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    cv2.rectangle(bgr, (x1, y1), (x2, y2), (0, 0, 255), max(2, img.shape[1] // 200))
    scale = width / img.shape[1]
    bgr = cv2.resize(bgr, (width, max(1, int(round(img.shape[0] * scale)))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else None


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"
    return str(v)


def _html(rep: ExposureReport, source: str, thumbs: dict[str, str]) -> str:
    video = bool(rep.videos)
    cols = (["brand", "seconds_on_screen", "appearances", "frames"] if video else ["brand"]) + \
        (["images"] if rep.n_images else []) + ["detections", "mean_area_share", "max_area_share", "mean_score",
                                                "mean_similarity"] + \
        (["first_seen_s", "last_seen_s"] if video else ["first_image", "last_image"])
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in cols)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(getattr(r, c)))}</td>" for c in cols) + "</tr>"
                   for r in rep.brands)
    cards = "".join(f'<figure><img src="{html.escape(src)}" alt="{html.escape(b)}"><figcaption>{html.escape(b)}'
                    "</figcaption></figure>" for b, src in thumbs.items())
    videos = ", ".join(f"{html.escape(Path(v).name)} ({d['duration_s']:.1f} s, {d['frames']} frames every "
                       f"{d['sample_interval_s']:.2f} s)" for v, d in rep.videos.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>osld exposure report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}figure{{display:inline-block;margin:8px}}
img{{max-width:100%}}</style></head><body>
<h1>Brand exposure</h1>
<p>Source: {html.escape(source)}. {"Videos: " + videos + "." if videos else ""}
{f"Photos: {rep.n_images}." if rep.n_images else ""} {f"Errors: {len(rep.errors)}." if rep.errors else ""}</p>
<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>
<h2>Timeline</h2><img src="timeline.png" alt="timeline: brands over time">
<h2>Best frame per brand</h2>{cards or "<p>none</p>"}
</body></html>
"""


def write_report(source: str | os.PathLike, out: str | os.PathLike, min_track_frames: int = 1,
                 include_unknown: bool = False, thumbnails: bool = True) -> dict[str, Path]:
    """Build the exposure report of a JSONL file from ``osld detect`` into folder ``out``.

    Writes ``exposure.csv``, ``exposure.json``, ``timeline.png``, ``index.html`` and ``thumbs/<brand>.jpg``
    (each file atomically). Returns the paths by kind (``csv``, ``json``, ``png``, ``html``).

    Example:
        >>> write_report("match.jsonl", "report/")["html"]
        PosixPath('report/index.html')
    """
    out = Path(out)
    rep = exposure(load_records(source), min_track_frames=min_track_frames, include_unknown=include_unknown)
    paths = report_paths(out)
    atomic_write_text(paths["csv"], _csv_text(rep))
    atomic_write_text(paths["json"], json.dumps({"source": str(source), **rep.to_dict()}, indent=1,
                                                 ensure_ascii=False))
    timeline_png(rep, paths["png"])
    thumbs: dict[str, str] = {}
    if thumbnails:
        for i, row in enumerate(rep.brands):
            data = thumbnail(row.best) if row.best else None
            if data:
                name = f"thumbs/{i:03d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', row.brand)[:40]}.jpg"
                atomic_write_bytes(out / name, data)
                thumbs[row.brand] = name
    atomic_write_text(paths["html"], _html(rep, str(source), thumbs))
    return paths
