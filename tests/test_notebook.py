"""``notebooks/quickstart.ipynb`` is committed with its outputs, and still runs top to bottom without errors.

The notebook prints rather than asserts (what the models find changes with the weights); this test checks that the
committed copy shows its pictures and tables, that every cell of the current notebook runs (through the same
``scripts/run_notebook.py`` that saves the committed copy), that the figures are drawn, that the registration
example changes what the photo is called, and that the repository is left as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
DEMO_LOGOS = REPO / "datasets" / "demo" / "logos"
N_FIGURES = 4  # demo photos, before/after registering, PR curves + AP bars, neighbours


def _demo_registry_files() -> list[str]:
    # the canonical images only: the gitignored .osld/ index cache may be written by other users of the folder
    return sorted(p.relative_to(DEMO_LOGOS).as_posix() for p in DEMO_LOGOS.rglob("*")
                  if p.is_file() and ".osld" not in p.relative_to(DEMO_LOGOS).parts)


def _outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _figures(nb) -> list:
    return [o for o in _outputs(nb) if o.output_type == "display_data"
            and any(k.startswith("image/") for k in o.get("data", {}))]


def _registration_lines(nb) -> list[str]:
    # the lines the registration cells print: "tdtu registered? False -> box 0: unknown ..." then "... True -> ..."
    text = "".join(o.get("text", "") for o in _outputs(nb) if o.output_type == "stream")
    return [line for line in text.splitlines() if line.startswith("tdtu registered?")]


def test_notebook_is_committed_with_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # executed top to bottom in one run (scripts/run_notebook.py), none failed
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "rerun scripts/run_notebook.py"
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    assert len(_figures(nb)) >= N_FIGURES
    assert any("text/html" in o.get("data", {}) for o in _outputs(nb)), "no table in the committed outputs"
    text = "".join(o.get("text", "") for o in _outputs(nb) if o.output_type == "stream")
    assert "osld-quickstart-" not in text and str(REPO) not in text, "the outputs show this machine's paths"
    for c in code:
        assert "sys.path" not in c.source and "tests." not in c.source, "the notebook must run on an installed osld"


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path):
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import nbformat

    before = _demo_registry_files()
    out = tmp_path / "executed.ipynb"
    # PYTHONPATH as given to pytest, so the kernel imports the osld under test
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "run_notebook.py"), "--out", str(out)],
                         capture_output=True, text=True, env=dict(os.environ), timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]  # the failing cell's traceback

    nb = nbformat.read(out, as_version=4)
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    assert len(_figures(nb)) >= N_FIGURES, f"expected {N_FIGURES} inline figures, got {len(_figures(nb))}"
    lines = _registration_lines(nb)
    assert len(lines) == 2 and "False" in lines[0] and "True" in lines[1]
    assert ": tdtu (" in lines[1], f"registering tdtu did not name the photo: {lines}"
    assert "tdtu (" not in lines[0], f"the photo was named tdtu before registering it: {lines}"
    assert _demo_registry_files() == before, "the notebook changed datasets/demo/logos"
