"""What an experiment notebook records: tidy tables, figures and headline numbers, in the
run's folder (``results_dir``, a papermill parameter ``workbench experiment run`` sets).

    res = Results(results_dir, "04_recovery", question="...", parameters=dict(size=size))
    res.table("recovery", df, measured=("back_s", "detect_s"), tolerance=0.5)
    res.figure("throughput", fig)              # figures/throughput.html, .json (and .png)
    res.headline("back_s", 0.36, "s", "kill to the sink's first restored batch")

Everything goes into ``experiment.json`` beside the files, which ``list``, ``compare`` and
``report`` read. Columns a table marks ``measured`` (times, rates) may differ between two
runs with the same parameters; every other column must not (the determinism the tests
check), and ``compare`` flags a measured column only past the table's ``tolerance``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError

META = "experiment.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ExperimentError(WorkbenchError):
    """An experiment's run, record or comparison went wrong (the message names which)."""


def chromium() -> str | None:
    """The system Chromium kaleido may drive for PNG export (never one it downloads)."""
    for path in (os.environ.get("BROWSER_PATH"), "/usr/bin/chromium",
                 "/usr/bin/chromium-browser"):
        if path and os.access(path, os.X_OK):
            return path
    return None


class Results:
    """The record of one run of one experiment notebook (see the module's docstring)."""

    def __init__(self, results_dir: str | os.PathLike | None, name: str, *,
                 question: str = "", parameters: dict | None = None):
        if not _NAME.match(name):
            raise ExperimentError(f"experiment name {name!r}: expected letters, digits, "
                                  "'_', '.', '-' (the notebook's file name without .ipynb)")
        self.scratch = results_dir is None
        self.dir = Path(results_dir) if results_dir else Path(
            tempfile.mkdtemp(prefix=f"wb-{name}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.meta: dict[str, Any] = {"name": name, "question": question,
                                     "parameters": dict(parameters or {}),
                                     "tables": {}, "figures": {}, "headlines": {},
                                     "cluster": None, "recorded_at": time.time()}
        self._save()
        where = "a scratch folder" if self.scratch else "its run folder"
        print(f"{name}: results go to {where}: {self.dir}")

    # --- what a notebook records ------------------------------------------------------
    def table(self, name: str, df: Any, measured: tuple | list = (),
              tolerance: float = 0.25, key: tuple | list | None = None) -> Path:
        """Write ``df`` as ``tables/NAME.csv``. ``measured``: its columns that vary from
        run to run (times, rates); ``tolerance``: the relative difference ``compare``
        accepts in them; ``key``: the columns that identify a row (default: the columns
        that are neither measured nor numeric)."""
        self._check(name, "table")
        flat = df.reset_index() if _named_index(df) else df
        missing = [c for c in [*measured, *(key or ())] if c not in flat.columns]
        if missing:
            raise ExperimentError(
                f"table {name!r}: column(s) {missing} are not in it (it has "
                f"{list(flat.columns)}); name measured/key columns from the table.")
        path = self.dir / "tables" / f"{name}.csv"
        path.parent.mkdir(exist_ok=True)
        flat.to_csv(path, index=False)
        if key is None:
            key = [c for c in flat.columns if c not in measured
                   and not _numeric(flat[c])]
        self.meta["tables"][name] = {"file": str(path.relative_to(self.dir)),
                                     "rows": len(flat), "measured": list(measured),
                                     "tolerance": float(tolerance), "key": list(key)}
        self._save()
        return path

    def figure(self, name: str, fig: Any, png: bool | None = None) -> dict[str, str]:
        """Write a plotly figure as standalone HTML and JSON, and as PNG where a system
        Chromium is present (kaleido drives it; ``png=False`` skips it)."""
        self._check(name, "figure")
        out = self.dir / "figures"
        out.mkdir(exist_ok=True)
        files = {"html": out / f"{name}.html", "json": out / f"{name}.json"}
        fig.write_html(str(files["html"]), include_plotlyjs=True, full_html=True)
        files["json"].write_text(fig.to_json())
        browser = chromium()
        if png is not False and browser:
            os.environ.setdefault("BROWSER_PATH", browser)
            try:
                fig.write_image(str(out / f"{name}.png"), width=900, height=450)
                files["png"] = out / f"{name}.png"
            except Exception as exc:  # noqa: BLE001 - the HTML stands; say why no PNG
                print(f"figure {name!r}: no PNG ({type(exc).__name__}: {exc})")
        self.meta["figures"][name] = {k: str(p.relative_to(self.dir)) for k, p in files.items()}
        self._save()
        return {k: str(p) for k, p in files.items()}

    def headline(self, name: str, value: float, unit: str = "", note: str = "") -> None:
        """A headline number: the report's history follows it run after run."""
        self._check(name, "headline")
        self.meta["headlines"][name] = {"value": _plain(value), "unit": unit, "note": note}
        self._save()

    def cluster(self, shape: Any) -> None:
        """The cluster the experiment ran on (a dict, or a session/cluster whose workers
        are listed with their resources and threads)."""
        self.meta["cluster"] = shape if isinstance(shape, dict) else _shape_of(shape)
        self._save()

    def step(self, text: str) -> None:
        """A progress line (printed in the notebook; ``experiment run`` prints it too)."""
        print(f"[step] {text}", flush=True)

    def discard(self) -> None:
        """Remove a scratch folder (a run folder is kept)."""
        if self.scratch:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __repr__(self) -> str:
        m = self.meta
        return (f"Results({m['name']}: {len(m['tables'])} table(s), {len(m['figures'])} "
                f"figure(s), {len(m['headlines'])} headline(s) in {self.dir})")

    # --- internals ----------------------------------------------------------------------
    def _check(self, name: str, what: str) -> None:
        if not _NAME.match(name):
            raise ExperimentError(f"{what} name {name!r}: expected letters, digits, '_', "
                                  "'.', '-' (it becomes a file name).")

    def _save(self) -> None:
        tmp = self.dir / (META + ".tmp")
        tmp.write_text(json.dumps(self.meta, indent=1, default=_plain))
        tmp.replace(self.dir / META)


def read_meta(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / META
    return json.loads(path.read_text()) if path.exists() else {}


def _named_index(df: Any) -> bool:
    return any(n is not None for n in getattr(df.index, "names", [None]))


def _numeric(col: Any) -> bool:
    return col.dtype.kind in "iufcb"


def _plain(v: Any) -> Any:
    """numpy scalars and the like as plain JSON values."""
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, (set, tuple)):
        return list(v)
    return v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else str(v)


def _shape_of(session: Any) -> dict:
    info = getattr(session, "scheduler_info", None)
    info = info() if callable(info) else None
    if info is None and hasattr(session, "client"):
        info = session.client.scheduler_info()
    if not info:
        return {"description": str(session)}
    workers = sorted(info.get("workers", {}).values(), key=lambda w: w.get("name", ""))
    return {"workers": [{"name": str(w.get("name")), "threads": w.get("nthreads"),
                         "resources": w.get("resources", {}),
                         "memory_limit": w.get("memory_limit")} for w in workers]}
