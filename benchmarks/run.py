"""Run the osld benchmark: ``python benchmarks/run.py [--quick] [--json OUT]`` (same options as ``osld bench``)."""

from __future__ import annotations

import typer

from osld.bench import bench_command
from osld.cli_base import TYPER_STYLE


def main() -> None:
    app = typer.Typer(**TYPER_STYLE)
    app.command()(bench_command)
    app()


if __name__ == "__main__":
    main()
