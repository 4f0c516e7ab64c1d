"""Fixtures for the service tests: a temp copy of the demo registry and a TestClient over the shipped models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "datasets" / "demo"
# a subset of the demo registry (the car brands of the demo photos plus distractors): embedding all 64 demo logos
# under the training runs' load costs ~20 s, these ~20 s less
BRANDS = ("bmw", "honda", "hyundai", "renault", "toyota", "volkswagen", "audi", "opel", "peugeot", "seat",
          "skoda", "fiat", "firefox", "docker", "github", "python")

pytest.importorskip("fastapi", reason="needs the [serve] extra")


@pytest.fixture(scope="session")
def synced_demo(tmp_path_factory, shipped_embedder) -> Path:
    """Demo registry brands, indexed once per session; tests change copies of it."""
    from osld.registry import Registry

    dst = tmp_path_factory.mktemp("serve_demo") / "logos"
    for brand in BRANDS:
        shutil.copytree(DEMO / "logos" / brand, dst / brand)
    Registry(dst, shipped_embedder).sync()
    return dst


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory, synced_demo: Path) -> Path:
    """A writable copy of the demo registry with its index (nothing is re-embedded)."""
    dst = tmp_path_factory.mktemp("serve") / "logos"
    shutil.copytree(synced_demo, dst)
    return dst


@pytest.fixture(scope="module")
def client(demo_copy: Path, weights_dir: Path):
    from fastapi.testclient import TestClient

    from osld import Pipeline
    from osld.serve import ServeConfig, create_app

    pipe = Pipeline.from_pretrained(registry=demo_copy)
    app = create_app(pipe, ServeConfig(api_key="s3cret", max_upload_mb=1.0, max_files=4))
    with TestClient(app) as c:
        yield c
