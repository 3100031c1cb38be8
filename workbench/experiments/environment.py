"""The environment of an experiment run (``environment.json``): what produced a figure.

Versions of the workbench (and its git commit, with a flag when the tree had changes),
Python and the libraries the results depend on, the CPU model and count, memory, the
parameters and seed, the cluster shape the notebook recorded, start and end times.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("numpy", "numba", "llvmlite", "dask", "distributed", "pandas", "scipy",
             "plotly", "papermill", "statsmodels", "mpi4py")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_commit(root: Path) -> dict[str, Any]:
    """The commit the tree is at and whether it had uncommitted changes (None outside git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                              text=True, timeout=20, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def environment(root: Path) -> dict[str, Any]:
    """Everything but the run's own times, parameters and cluster (the runner adds those)."""
    return {
        "workbench": _version("workbench"),
        **git_commit(root),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "libraries": {lib: _version(lib) for lib in LIBRARIES if _version(lib)},
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_bytes": memory_bytes(),
        "hostname": platform.node(),
        "ci": os.environ.get("CI") == "true",
    }


# keys whose change between two runs is expected, not a change of environment
VOLATILE = ("started_at", "ended_at", "seconds", "run_id", "hostname", "notebook_out",
            "status", "error")


def differences(a: dict, b: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(key, a's value, b's value) for every key whose value differs (nested dicts
    flattened with dots), leaving out the volatile ones."""
    out = []
    for k in sorted(set(a) | set(b)):
        if k in VOLATILE:
            continue
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append((prefix + k, va, vb))
    return out
