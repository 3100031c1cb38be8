"""``workbench experiment run``: execute an experiment notebook with papermill and record
the run in ``data/results/NAME/RUN_ID/``: the executed notebook, the tables and figures the
notebook recorded (:class:`~workbench.experiments.record.Results`), ``environment.json``.

The notebook's ``parameters`` cell (tagged so) declares ``size``, ``seed`` and
``results_dir`` at least; ``-p k=v`` overrides them (values parsed as YAML scalars, as
papermill's own CLI does) and papermill injects them after that cell. A line per code
cell (and per ``res.step``) shows the progress on the command line.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from .environment import environment
from .record import META, ExperimentError, read_meta

ENV = "environment.json"


def repo_root(start: Path | None = None) -> Path:
    """The repository the notebooks belong to (the folder holding pyproject.toml)."""
    here = (start or Path.cwd()).resolve()
    for p in [here, *here.parents]:
        if (p / "pyproject.toml").exists() and (p / "notebooks").is_dir():
            return p
    return Path.cwd().resolve()


def results_root(root: Path | None = None) -> Path:
    """Where runs go: ``$WORKBENCH_RESULTS`` or the repository's ``data/results``."""
    env = os.environ.get("WORKBENCH_RESULTS")
    return Path(env) if env else (root or repo_root()) / "data" / "results"


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``["size=small", "seed=1"]`` -> ``{"size": "small", "seed": 1}``."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ExperimentError(f"parameter {pair!r}: expected NAME=VALUE, e.g. "
                                  "-p size=small -p seed=1")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def declared_parameters(nb_path: Path) -> dict[str, Any]:
    """The names and defaults of the notebook's ``parameters`` cell (papermill's own
    inspection). Raises when the notebook has none."""
    import nbformat
    import papermill as pm

    nb = nbformat.read(str(nb_path), as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise ExperimentError(
            f"{nb_path.name} has no cell tagged 'parameters'; give the cell that sets "
            "size, seed and results_dir the tag 'parameters' (papermill's convention).")
    return {name: _literal(spec["default"])
            for name, spec in pm.inspect_notebook(str(nb_path)).items()}


def _literal(text: str) -> Any:
    """A default as papermill reports it (source text) as its value, where it is one."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class _Lines:
    """A notebook's stdout as papermill streams it: only ``[step]`` lines go on."""

    def __init__(self, name: str, out: Any):
        self.name, self.out, self.buf = name, out, ""

    def write(self, text: str) -> int:
        self.buf += text
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            if line.startswith("[step]"):
                print(f"  [{self.name}] {line[6:].strip()}", file=self.out, flush=True)
        return len(text)

    def flush(self) -> None:
        pass


def _engine(name: str, out: Any) -> str:
    """A papermill engine (its documented extension point) that prints one line per code
    cell: its number, the section it is in, and how long it took."""
    from papermill.engines import NBClientEngine, papermill_engines

    class Progress(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            code = [i for i, c in enumerate(nb_man.nb.cells) if c.cell_type == "code"]
            section = {}
            title = ""
            for i, c in enumerate(nb_man.nb.cells):
                if c.cell_type == "markdown" and c.source.lstrip().startswith("#"):
                    title = c.source.lstrip().splitlines()[0].lstrip("# ").strip()
                section[i] = title
            started: dict[int, float] = {}
            start, complete = nb_man.cell_start, nb_man.cell_complete

            def cell_start(cell, cell_index=None, **kw):
                started[cell_index] = time.monotonic()
                return start(cell, cell_index, **kw)

            def cell_complete(cell, cell_index=None, **kw):
                if cell.cell_type == "code" and cell_index in started:
                    n = code.index(cell_index) + 1 if cell_index in code else "?"
                    print(f"  [{name}] cell {n}/{len(code)} {section.get(cell_index, '')[:50]!r}"
                          f" {time.monotonic() - started[cell_index]:.1f} s",
                          file=out, flush=True)
                return complete(cell, cell_index, **kw)

            nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("workbench-progress", Progress)
    return "workbench-progress"


def new_run_id(params: dict) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    size = str(params.get("size", ""))
    seed = params.get("seed")
    tail = "-".join(x for x in (size, f"s{seed}" if seed is not None else "") if x)
    return f"{stamp}-{tail}-{secrets.token_hex(2)}" if tail else f"{stamp}-{secrets.token_hex(2)}"


def run(notebook: str | os.PathLike, params: dict | None = None, *,
        results: str | os.PathLike | None = None, run_id: str | None = None,
        kernel: str | None = None, timeout: float | None = None,
        out: Any = None) -> Path:
    """Execute ``notebook`` with ``params`` through papermill; return the run's folder.

    The folder holds ``NAME.ipynb`` (executed), ``environment.json``, ``experiment.json``
    and the tables and figures the notebook recorded. A notebook that fails still leaves
    its folder (status "failed", the executed notebook up to the failing cell) and raises
    :class:`ExperimentError` naming the cell.
    """
    import papermill as pm

    out = out or sys.stdout
    nb_path = Path(notebook).resolve()
    if not nb_path.exists():
        raise ExperimentError(f"no notebook at {notebook}; `workbench experiment list "
                              "--notebooks` lists the experiments.")
    name = nb_path.stem
    declared = declared_parameters(nb_path)
    params = dict(params or {})
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ExperimentError(
            f"{nb_path.name} has no parameter(s) {unknown}; its parameters cell declares "
            f"{', '.join(f'{k}={v!r}' for k, v in declared.items())}.")
    effective = {**declared, **params}
    effective.pop("results_dir", None)
    root = repo_root(nb_path.parent)
    run_dir = Path(results or results_root(root)) / name / (run_id or new_run_id(effective))
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ExperimentError(f"run folder {run_dir} exists already; pick another run id.")
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**environment(root), "experiment": name, "notebook": str(nb_path.relative_to(root))
           if nb_path.is_relative_to(root) else str(nb_path),
           "run_id": run_dir.name, "parameters": effective, "seed": effective.get("seed"),
           "started_at": time.time(), "status": "running"}
    _write_env(run_dir, env)
    print(f"[{name}] run {run_dir.name}: {', '.join(f'{k}={v!r}' for k, v in effective.items())}",
          file=out, flush=True)
    error = None
    t = time.monotonic()
    try:
        pm.execute_notebook(
            str(nb_path), str(run_dir / f"{name}.ipynb"),
            parameters={**params, "results_dir": str(run_dir)},
            engine_name=_engine(name, out), kernel_name=kernel, progress_bar=False,
            stdout_file=_Lines(name, out), cwd=str(nb_path.parent),
            execution_timeout=timeout)
    except pm.PapermillExecutionError as exc:
        error = (f"cell {exc.exec_count or '?'} raised {exc.ename}: {exc.evalue}\n"
                 f"see {run_dir / (name + '.ipynb')}")
    finally:
        meta = read_meta(run_dir)
        env.update(ended_at=time.time(), seconds=round(time.monotonic() - t, 2),
                   status="failed" if error else "ok", error=error,
                   cluster=meta.get("cluster"))
        if error is None and not meta:
            env.update(status="failed", error=f"the notebook wrote no {META}: it must "
                       "create Results(results_dir, ...) (see workbench.experiments)")
            error = env["error"]
        _write_env(run_dir, env)
    if error:
        raise ExperimentError(f"{name} failed: {error}")
    print(f"[{name}] done in {env['seconds']:.1f} s: {run_dir}", file=out, flush=True)
    return run_dir


def _write_env(run_dir: Path, env: dict) -> None:
    (run_dir / ENV).write_text(json.dumps(env, indent=1, default=str))


def notebooks(root: Path | None = None) -> list[Path]:
    """The experiment notebooks: ``notebooks/NN_*.ipynb``, in order."""
    return sorted((root or repo_root()).joinpath("notebooks").glob("[0-9][0-9]_*.ipynb"))
