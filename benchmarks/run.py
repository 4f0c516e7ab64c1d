"""Run the osld benchmark: ``python benchmarks/run.py [--quick] [--json OUT]`` (same options as ``osld bench``)."""

from __future__ import annotations

import typer

from osld.bench import bench_command


def main() -> None:
    typer.run(bench_command)


if __name__ == "__main__":
    main()
