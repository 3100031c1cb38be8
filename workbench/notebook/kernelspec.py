"""Install the "Python 3 (workbench)" kernelspec (kernels/workbench) for Jupyter."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

NAME = "workbench"


def spec_dir(name: str = NAME) -> Path:
    """kernels/<name> from the wheel (workbench/_kernels) or the source tree."""
    package = Path(__file__).resolve().parents[1]
    for base in (package / "_kernels", package.parent / "kernels"):
        if (base / name / "kernel.json").exists():
            return base / name
    raise FileNotFoundError(f"kernelspec {name!r} not found next to {package}")


def install(user: bool = False, prefix: str | None = None, name: str = NAME) -> str:
    """Install the kernelspec with this interpreter as its Python; returns where."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / name
        shutil.copytree(spec_dir(name), dst)
        spec = json.loads((dst / "kernel.json").read_text())
        spec["argv"][0] = sys.executable
        (dst / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")
        return KernelSpecManager().install_kernel_spec(
            str(dst), kernel_name=name, user=user, prefix=None if user else prefix)
