"""``workbench demo``: run the quickstart notebook headless with a real kernel, print what
it measured, and say where to open it in JupyterLab."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

QUICKSTART = "notebooks/00_quickstart.ipynb"


def execute(path: str | os.PathLike, kernel: str = "workbench", timeout: int = 900,
            env: dict[str, str] | None = None, cwd: str | None = None) -> Any:
    """Execute a notebook with nbclient and a real kernel; return the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                                resources={"metadata": {"path": cwd or str(Path(path).parent)}})
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


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

    path = Path(args.notebook or QUICKSTART)
    if not path.exists():
        print(f"no notebook at {path}; run `make demo` from the repository root.")
        return 2
    _ensure_kernel()
    out = Path(args.out) if args.out else Path(".venv") / "demo" / path.name
    print(f"running {path} headless with the 'Python 3 (workbench)' kernel ...", flush=True)
    t = time.time()
    nb = execute(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
    print(f"done in {time.time() - t:.1f} s. What the notebook printed:")
    for line in stream_text(nb):
        print("  " + line)
    print(f"\nexecuted copy: {out}")
    print(f"open it live:  .venv/bin/jupyter lab {path}")
    return 0
