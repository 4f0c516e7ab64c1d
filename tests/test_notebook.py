"""``notebooks/quickstart.ipynb`` runs top to bottom without errors, and is committed without outputs.

The notebook prints rather than asserts (what the models find changes with the weights); this test only checks
that every cell runs, that the figures are drawn, and that the repository is left as it was.
"""

from __future__ import annotations

import json
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


def test_notebook_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {cell.id} has outputs"


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    # The kernel must be this interpreter (and so this venv and this editable osld). The stock "python3" spec
    # usually is: ipykernel ships it with argv[0] "python", which jupyter_client replaces by sys.executable, and
    # inside a venv the venv's spec comes first. But any "python3" spec earlier on the jupyter search path (a
    # `--user` install of another Python outside a venv, JUPYTER_PATH, conda) wins and runs another interpreter.
    # A private spec pinned to sys.executable, in a folder only this test searches, needs no `ipykernel install`
    # and cannot be shadowed.
    kernels = tmp_path / "kernels"
    (kernels / "osld-test").mkdir(parents=True)
    (kernels / "osld-test" / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "osld test kernel",
        "language": "python",
    }))
    km = AsyncKernelManager(kernel_name="osld-test",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    before = _demo_registry_files()
    client = nbclient.NotebookClient(nb, km=km, timeout=600,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    try:
        client.execute(cleanup_kc=True)  # raises CellExecutionError (with the traceback) if any cell fails
    finally:
        if km.has_kernel:  # we own km, so nbclient would otherwise leave the kernel running
            run_sync(km.shutdown_kernel)(now=True)

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(figures) >= N_FIGURES, f"expected {N_FIGURES} inline figures, got {len(figures)}"
    assert _demo_registry_files() == before, "the notebook changed datasets/demo/logos"
