"""Execute ``notebooks/quickstart.ipynb`` with this interpreter and save it with its outputs.

    PYTHONPATH=$PWD python scripts/run_notebook.py                  # in place: commit the result
    python scripts/run_notebook.py --out /tmp/executed.ipynb        # elsewhere (what tests/test_notebook.py does)

The notebook is committed with its outputs so that its pictures and tables show on the repository page; rerun this
after changing the notebook, the demo or the models. Needs ``nbclient``, ``nbformat`` and ``ipykernel`` (the
``dev`` extra). Exits 1 with the failing cell's traceback when a cell raises.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def execute(notebook: Path, out: Path, timeout: int = 600) -> None:
    """Run every cell of ``notebook`` in a kernel on ``sys.executable`` (working directory: the notebook's folder)
    and write the executed notebook to ``out``; raises ``nbclient.exceptions.CellExecutionError`` on a failing cell.
    """
    import nbclient
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        # The kernel must be this interpreter (this venv, this osld). Any "python3" kernel spec earlier on the
        # jupyter search path (a --user install of another Python, JUPYTER_PATH, conda) would win over the
        # venv's, so a private spec pinned to sys.executable, in a folder only this run searches, is used.
        spec = Path(tmp) / "osld-run"
        spec.mkdir()
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }))
        km = AsyncKernelManager(kernel_name="osld-run", kernel_spec_manager=KernelSpecManager(kernel_dirs=[tmp]))
        client = nbclient.NotebookClient(nb, km=km, timeout=timeout,
                                         resources={"metadata": {"path": str(notebook.parent)}})
        try:
            client.execute(cleanup_kc=True)
        finally:
            if km.has_kernel:  # we own km, so nbclient would otherwise leave the kernel running
                run_sync(km.shutdown_kernel)(now=True)
    # the stock kernel name, so the saved notebook opens with the reader's default Python kernel
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.validate(nb)
    nbformat.write(nb, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebook", type=Path, default=NOTEBOOK)
    ap.add_argument("--out", type=Path, help="where to save the executed notebook (default: in place)")
    args = ap.parse_args()
    from nbclient.exceptions import CellExecutionError

    try:
        execute(args.notebook, args.out or args.notebook)
    except CellExecutionError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
