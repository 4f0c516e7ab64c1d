"""``osld serve``: the typer command (registered in ``osld/cli.py``)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from osld.errors import MissingDependencyError, OsldError


def serve_command(
    registry: Path = typer.Option(..., file_okay=False, help="Registry folder served and changed by the API."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; loopback by default."),
    port: int = typer.Option(8000, help="TCP port."),
    api_key: str | None = typer.Option(None, envvar="OSLD_API_KEY", help="Required on writes (Bearer) when set."),
    detector: Path | None = typer.Option(None, help="Detector ONNX (default: shipped)."),
    embedder: Path | None = typer.Option(None, help="Embedder ONNX (default: shipped)."),
    conf: float | None = typer.Option(None, help="Default detector score threshold (default: the model's)."),
    conf_floor: float = typer.Option(0.05, help="Lowest conf a request may ask for (the detector runs at it)."),
    min_sim: float | None = typer.Option(None, help="Default similarity below which a box is 'unknown'."),
    max_upload_mb: float = typer.Option(20.0, help="Largest accepted file, in MB."),
    max_files: int = typer.Option(16, help="Most files per request."),
    max_batch: int = typer.Option(8, help="Most images per model call (micro-batching)."),
    max_wait_ms: float = typer.Option(5.0, help="Longest an image waits for a batch to fill."),
    threads: int | None = typer.Option(None, help="onnxruntime threads (default: all cores)."),
) -> None:
    """Serve the HTTP API (/v1/detect, /v1/brands, /docs, /metrics) and the web page at /."""
    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.INFO)
    try:
        try:
            import uvicorn

            from osld.serve.app import create_app
        except ImportError as e:
            raise MissingDependencyError(f"osld serve needs the [serve] extra: pip install 'osld[serve]' ({e})") from e
        from osld.pipeline import Pipeline
        from osld.serve.service import ServeConfig

        pipe = Pipeline.from_pretrained(registry=registry, detector=detector, embedder=embedder, conf=conf,
                                        threads=threads, min_sim=min_sim)
        cfg = ServeConfig(api_key=api_key or None, max_upload_mb=max_upload_mb, max_files=max_files,
                          max_batch=max_batch, max_wait_ms=max_wait_ms, conf_floor=conf_floor)
        app = create_app(pipe, cfg)
    except OsldError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        logging.getLogger("osld.serve").warning("binding %s without --api-key: anyone who reaches it can change "
                                                "the registry", host)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
