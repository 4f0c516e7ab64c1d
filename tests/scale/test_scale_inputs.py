"""Inputs of a distributed run (``osld.scale.inputs``) and the read-only registry snapshot; no Ray needed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from osld.errors import OsldError
from osld.scale.inputs import collect_inputs, read_list_file


def test_list_files_folders_and_order(tmp_path: Path, scene_images):
    scenes = scene_images(3, tmp_path / "imgs")
    (tmp_path / "imgs" / "notes.md").write_text("not an image")
    lst = tmp_path / "lists" / "a.txt"
    lst.parent.mkdir()
    lst.write_text(f"# comment\n../imgs/{scenes[2].name}\n\n  {scenes[0]}  \n")
    skipped: list[Path] = []
    items = collect_inputs([lst, tmp_path / "imgs"], skipped=skipped)
    # list entries first (in list order, relative ones joined to the list's folder), then the folder, sorted
    assert [i.image for i in items] == [os.path.join(lst.parent, f"../imgs/{scenes[2].name}"), str(scenes[0]),
                                        *map(str, scenes)]
    assert all(i.abspath == os.path.abspath(i.image) for i in items)
    assert [p.name for p in skipped] == ["notes.md"]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_table_list_files(tmp_path: Path, kind: str):
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"id": [1, 2], "path": ["a.jpg", "/data/b.jpg"]})
    path = tmp_path / f"list.{kind}"
    if kind == "csv":
        from pyarrow import csv

        csv.write_csv(table, path)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    assert read_list_file(path) == [os.path.join(tmp_path, "a.jpg"), "/data/b.jpg"]
    bad = tmp_path / f"ids.{kind}"
    if kind == "csv":
        bad.write_text("id\n1\n2\n")
        with pytest.raises(OsldError, match="not paths"):
            read_list_file(bad)


def test_frozen_registry_searches_like_the_registry(tmp_path: Path, demo_registry, shipped_embedder):
    from osld.registry import Registry
    from osld.scale.snapshot import FrozenRegistry, RegistrySnapshot

    root = demo_registry(("acme", "globex", "initech"), per_brand=2)
    reg = Registry(root, shipped_embedder)
    reg.sync()
    frozen = FrozenRegistry(RegistrySnapshot.of(reg))
    queries = np.ascontiguousarray(reg.vectors[::3] + 0.05, np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    expected = reg.search(queries, k=3)
    got = frozen.search(queries, k=3)
    assert [[(m.brand, round(m.sim, 5)) for m in ms] for ms in got] == [[(m.brand, round(m.sim, 5)) for m in ms]
                                                                         for ms in expected]
    assert frozen.calibration == reg.calibration
    (root / "acme" / "new.png").write_bytes((root / "globex" / "0.png").read_bytes())
    assert frozen.sync()["added"] == 0 and len(frozen.search(queries, k=1)) == len(queries)  # never re-reads
