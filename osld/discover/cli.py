"""``osld discover RESULTS`` and ``osld discover add CLUSTER_ID BRAND``: a thin layer over ``osld.discover``."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from osld.cli_base import TYPER_STYLE
from osld.errors import OsldError


class _RunByDefault(TyperGroup):
    """``osld discover RESULTS ...`` means ``osld discover run RESULTS ...``; ``add`` stays a sub-command."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


discover_app = typer.Typer(cls=_RunByDefault, no_args_is_help=True,
                           help="Cluster the 'unknown' logos of a results file into candidate brands; name one "
                                "with `add`.", **TYPER_STYLE)


def _fail(err: OsldError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _embedder(path: Path | None):
    from osld.embedder import load_embedder
    from osld.pipeline import default_weights_dir

    return load_embedder(path or default_weights_dir() / "embedder.onnx")


@discover_app.command("run")
def discover_cmd(
    results: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL results of `osld detect`."),
    out: Path = typer.Option(..., help="Output folder (index.html, clusters.json, contact sheets, crops)."),
    embeddings: Path | None = typer.Option(None, exists=True, dir_okay=False, help="File written by `osld detect "
                                           "--save-embeddings` (default: re-embed the regions from the images)."),
    registry: Path | None = typer.Option(None, exists=True, file_okay=False, help="Registry folder: list each "
                                         "cluster's nearest registered brands."),
    min_size: int = typer.Option(3, help="Smallest cluster reported."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped weights/embedder.onnx)."),
    text: bool = typer.Option(False, "--text", help="Also cluster by the words read in each region: look-alike "
                              "wordmarks of different brands stay apart (the results' text from `osld detect "
                              "--text`, else read now; needs the [text] extra)."),
    progress: bool = typer.Option(True, help="Show a progress bar while reading text."),
) -> None:
    """Cluster the unknown regions of RESULTS and write contact sheets and an index.html to --out."""
    import time

    from osld.discover import discover
    from osld.registry import Registry

    started = time.time()
    try:
        emb = _embedder(embedder)
        reg = Registry(registry, emb) if registry else None
        clusters = discover(results, out, embeddings=embeddings, embedder=emb, registry=reg, min_size=min_size,
                            text=text, progress=progress)
    except OsldError as e:
        _fail(e)
    for c in clusters[:20]:
        near = ", ".join(f"{m.brand} {m.sim:.2f}" for m in c.nearest)
        typer.echo(f"#{c.id}\t{c.size} regions\ttightness {c.tightness:.2f}" + (f"\tnearest: {near}" if near else ""))
    more = " (first 20 shown)" if len(clusters) > 20 else ""
    typer.echo(f"{len(clusters)} clusters{more}, {sum(c.size for c in clusters)} regions clustered; "
               f"{time.time() - started:.1f} s; open {out / 'index.html'}", err=True)


@discover_app.command("add")
def add_cmd(
    cluster_id: int = typer.Argument(..., help="Cluster number (from index.html or clusters.json)."),
    brand: str = typer.Argument(..., help="Brand name to register the cluster as."),
    registry: Path = typer.Option(..., help="Registry folder."),
    clusters: Path = typer.Option(Path("clusters"), exists=True, file_okay=False, help="Output folder of "
                                  "`osld discover`."),
    take: int = typer.Option(5, help="Copy this many of the most central crops."),
    pick: list[int] = typer.Option([], help="Copy these crops instead (0 = most central; repeatable)."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped weights/embedder.onnx)."),
) -> None:
    """Register a cluster: copy its most central crops into REGISTRY/BRAND/ and index them."""
    from osld.discover import add_cluster
    from osld.registry import Registry

    try:
        added = add_cluster(clusters, cluster_id, brand, Registry(registry, _embedder(embedder)), take=take,
                            pick=pick or None)
    except OsldError as e:
        _fail(e)
    typer.echo(f"{brand}: added {len(added)} crop(s) of cluster {cluster_id} to {registry / brand}")
