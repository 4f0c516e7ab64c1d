"""``osld report``: the exposure report of a JSONL file written by ``osld detect``."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL written by `osld detect`."),
    out: Path = typer.Option(..., help="Report folder (exposure.csv/.json, timeline.png, index.html, thumbs/)."),
    min_track_frames: int = typer.Option(1, help="Ignore video tracks seen in fewer sampled frames."),
    include_unknown: bool = typer.Option(False, "--include-unknown", help="Also report unmatched regions."),
    thumbnails: bool = typer.Option(True, help="Cut a thumbnail of each brand's best frame (reads the videos)."),
) -> None:
    """Per-brand exposure: seconds on screen, appearances (tracks), frame-area share, confidence, first/last seen."""
    from osld.report import exposure, load_records, write_report

    paths = write_report(source, out, min_track_frames=min_track_frames, include_unknown=include_unknown,
                         thumbnails=thumbnails)
    rep = exposure(load_records(source), min_track_frames=min_track_frames, include_unknown=include_unknown)
    for r in rep.brands:
        seconds = f"{r.seconds_on_screen:.1f} s, " if rep.videos else ""
        typer.echo(f"{r.brand}\t{seconds}{r.appearances} appearances, {r.images} images, mean area "
                   f"{100 * r.mean_area_share:.1f}%")
    typer.echo(f"report: {paths['html']}", err=True)
