"""``workbench demo``: run the quickstart notebook headless with a real kernel (as
``workbench experiment run`` does: papermill, a run folder under ``data/results``), print
what it measured, and say where to open it in JupyterLab."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

QUICKSTART = "notebooks/00_quickstart.ipynb"


def stream_text(nb: Any) -> list[str]:
    """The text a reader sees under the code cells (stdout and plain results)."""
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += out["text"].rstrip().splitlines()
    return lines


def _ensure_kernel() -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("workbench")
    except NoSuchKernel:
        from .notebook import kernelspec

        kernelspec.install(prefix=sys.prefix)


def main(args: Any) -> int:
    import nbformat

    from .experiments.runs import parse_params, run

    path = Path(args.notebook or QUICKSTART)
    if not path.exists():
        print(f"no notebook at {path}; run `make demo` from the repository root.")
        return 2
    _ensure_kernel()
    print(f"running {path} headless with the 'Python 3 (workbench)' kernel ...", flush=True)
    t = time.time()
    run_dir = run(path, parse_params(getattr(args, "param", None)))
    nb = nbformat.read(str(run_dir / path.name), as_version=4)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(args.out))
    print(f"done in {time.time() - t:.1f} s. What the notebook printed:")
    for line in stream_text(nb):
        print("  " + line)
    print(f"\nthis run's folder: {run_dir} (the executed notebook, tables, figures, "
          "environment.json)")
    if args.out:
        print(f"executed copy: {args.out}")
    print(f"open it live:  .venv/bin/jupyter lab {path}")
    return 0
