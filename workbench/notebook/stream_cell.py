"""Stream programs from cell text: the plain function behind ``%%stream`` (no IPython).

:func:`stream_cell` runs a cell's Python in a namespace, turns the functions it defines
into operators (or takes the Pipeline its last expression evaluates to), puts them behind
a source and runs the program. The cell is registered in :mod:`linecache` under a
synthetic file name with the ``%%stream`` line as line 1, so numba sees each operator's
source and compile errors cite the line the user sees in the notebook.

Examples
--------
>>> import numpy as np
>>> ns = {"data": np.arange(8.0)}
>>> cell = '''
... def scale(x):
...     return x * 2.0
... '''
>>> run = stream_cell("prog", cell, ns, source="data", batch_size=4, widget=False,
...                   engine="local")
>>> ns["prog"].output
array([ 0.,  2.,  4.,  6.,  8., 10., 12., 14.])
"""

from __future__ import annotations

import difflib
import time
from typing import Any

import numpy as np

from ..errors import CellError, GraphError, PlacementError
from ..model.graph import Operator, Pipeline, SplitJoin, as_pipeline, operator
from ..model.sources import ArraySource, Source, array
from ..placement import hints
from . import runs
from .cell import execute, register

__all__ = ["parse_hints", "stream_cell"]


def parse_hints(items: list[str] | None, kind: str) -> dict[str, Any]:
    """``["scale=compute", ...]`` to ``{"scale": "compute"}``.

    ``kind`` is ``"placement"`` (``compute``, ``storage``, a worker address, or resources
    ``NAME:N[,NAME:N]``: :func:`workbench.placement.hints.parse`) or ``"parallelism"``
    (positive integers).

    >>> parse_hints(["scale=2", "mean4=1"], "parallelism")
    {'scale': 2, 'mean4': 1}
    >>> parse_hints(["scale=storage", "mean4=gpu:1"], "placement")
    {'scale': 'storage', 'mean4': {'gpu': 1.0}}
    """
    out: dict[str, Any] = {}
    form = "OP=N" if kind == "parallelism" else "OP=WHERE"
    for item in items or ():
        op, eq, value = item.partition("=")
        if not eq or not op.strip() or not value.strip():
            raise CellError(f"--{kind} {item!r}: expected {form}, e.g. --{kind} "
                            f"{'scale=2' if kind == 'parallelism' else 'scale=compute'}.")
        op, value = op.strip(), value.strip()
        if kind == "parallelism":
            try:
                n = int(value)
            except ValueError:
                n = 0
            if n < 1:
                raise CellError(f"--parallelism {item!r}: {value!r} is not a positive integer "
                                f"(instances of {op}).\nFix: --parallelism {op}=2.")
            out[op] = n
            continue
        try:
            out[op] = hints.parse(value, f"--placement {item!r}")
        except PlacementError as exc:
            raise CellError(f"{exc}\nFix: --placement {op}=compute.") from None
    return out


def _data_like(namespace: dict) -> list[str]:
    out = []
    for k, v in namespace.items():
        if k.startswith("_"):
            continue
        if isinstance(v, (np.ndarray, Source)) or type(v).__name__ in ("Series", "DataFrame"):
            shape = getattr(v, "shape", None)
            out.append(f"{k} ({type(v).__name__}{'' if shape is None else ' ' + str(shape)})")
    return out


def _lookup(spec: str, namespace: dict) -> Any:
    head, *attrs = spec.split(".")
    if head not in namespace:
        data = _data_like(namespace)
        close = difflib.get_close_matches(head, [d.split(" ")[0] for d in data], n=1)
        raise CellError(
            f"--source {spec}: no variable named {head!r} in the notebook."
            + (f" Did you mean {close[0]!r}?" if close else "")
            + "\nVariables that look like data: " + (", ".join(data) or "(none)")
            + "\nFix: define it first (data = np.random.random(10**6)), or name one of these.")
    value = namespace[head]
    for i, a in enumerate(attrs):
        try:
            value = getattr(value, a)
        except AttributeError:
            raise CellError(f"--source {spec}: {'.'.join([head, *attrs[:i]])} has no "
                            f"attribute {a!r}.") from None
    return value


def _rebatch(src: Source, batch_size: int | None, what: str) -> Source:
    if batch_size is None:
        return src
    if isinstance(src, ArraySource):
        return array(src.data, batch_size)
    raise CellError(f"--batch-size {batch_size}: {what} is {src!r}, whose batches are made by "
                    "the source itself.\nFix: drop --batch-size (or size the batches in the "
                    "source).")


def _as_source(spec: Any, namespace: dict, batch_size: int | None) -> Source:
    value = _lookup(spec, namespace) if isinstance(spec, str) else spec
    label = f"--source {spec}" if isinstance(spec, str) else "source"
    if isinstance(value, Source):
        return _rebatch(value, batch_size, label)
    kind = type(value).__name__
    if kind == "DataFrame":
        cols = list(value.columns)
        if len(cols) != 1:
            name = spec if isinstance(spec, str) else "df"
            raise CellError(
                f"{label} is a DataFrame with columns {', '.join(map(str, cols))}; a stream "
                f"needs one column.\nFix: --source {name}.{cols[0] if cols else 'column'}, or "
                f"src = wb.sources.dataframe({name}, [...columns]) for records with fields.")
        value = value[cols[0]]
        kind = "Series"
    if kind == "Series":
        value = value.to_numpy()
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        return array(value) if batch_size is None else array(value, batch_size)
    raise CellError(f"{label} is a {kind}; expected a numpy array, a pandas Series (a "
                    "DataFrame column) or a workbench source.\nFix: --source NAME of an array, "
                    "or src = wb.sources.generator(fn) and --source src.")


def _program(funcs: tuple, value: Any, namespace: dict, source: Any,
             batch_size: int | None) -> Pipeline:
    """The cell's program: its last expression, or its operators behind the source."""
    if isinstance(value, (Pipeline, Operator, SplitJoin)):
        prog = as_pipeline(value)
        if source is not None:
            if prog.source is not None:
                raise CellError(f"the cell's pipeline starts with its own source "
                                f"({prog.source!r}) and --source was given too.\nFix: drop "
                                "--source, or drop the source from the pipeline.")
            return _as_source(source, namespace, batch_size) >> prog
        if prog.source is not None:
            return Pipeline(_rebatch(prog.source, batch_size, "the pipeline's source"),
                            prog.elements)
        return prog
    names, used = funcs
    chain = []
    for name in names:
        f = namespace.get(name)
        if isinstance(f, Operator):     # @wb.operator: always an operator
            chain.append(f)
        elif (callable(f) and not isinstance(f, (Source, Pipeline, SplitJoin))
              and not name.startswith("_") and name not in used):
            chain.append(operator(f))   # plain and not a helper of another function
    if not chain:
        raise CellError("the cell defines no operators and its last line is not a pipeline."
                        "\nFix: define def scale(x): return x * 2.0 (operators are chained in "
                        "order), or end the cell with a pipeline: src >> scale.")
    prog = Pipeline(None, tuple(chain))
    if source is None:
        return prog
    return _as_source(source, namespace, batch_size) >> prog


def _check_options(name: str, batch_size: Any, batches: Any, duration: Any) -> None:
    if not name.isidentifier():
        raise CellError(f"{name!r} is not a Python name; %%stream NAME binds the run to it.")
    if batches is not None and duration is not None:
        raise CellError("give --batches N or --duration S, not both.")
    for label, v in (("batch-size", batch_size), ("batches", batches)):
        if v is not None and (not isinstance(v, (int, np.integer)) or v < 1):
            raise CellError(f"--{label} must be a positive integer; got {v!r}.")
    if duration is not None and not duration > 0:
        raise CellError(f"--duration must be a positive number of seconds; got {duration!r}.")


def stream_cell(name: str, cell: str, namespace: dict, *, source: Any = None,
                batch_size: int | None = None, batches: int | None = None,
                duration: float | None = None, placement: dict | None = None,
                parallelism: dict | None = None, run: bool = True, widget: bool = True,
                engine: str | None = None, line: str | None = None,
                startup: float = 10.0) -> Any:
    """Build (and run) the stream program a cell defines; bind it to ``namespace[name]``.

    Parameters
    ----------
    name : str
        Variable bound to the Run (or to the Pipeline when ``run=False``).
    cell : str
        Python source. Top-level functions become operators, chained in definition order
        (plain ones are wrapped with :func:`workbench.operator`; names starting with ``_``
        and plain functions the cell refers to, e.g. called by another function or given
        to ``wb.sources.generator``, are helpers). If the last statement is an expression
        giving a Pipeline (or an operator), that is the program instead.
    namespace : dict
        Where the cell runs (the notebook's user namespace, or ``globals()``).
    source : str or object, optional
        A variable name in ``namespace`` (dotted names reach DataFrame columns) or the
        value itself: a numpy array, a pandas Series, a one-column DataFrame or a Source.
    batch_size, batches, duration, placement, parallelism, engine
        As in :meth:`workbench.Pipeline.run`; ``batch_size`` sizes the array source.
    run : bool
        ``False`` binds the validated Pipeline and runs nothing.
    widget : bool
        Report in the notebook: in a Jupyter kernel the live dashboard (see
        :mod:`workbench.observe.widgets`), and a text summary (or, for unbounded runs, how to stop
        them).
    line : str, optional
        The magic line shown as line 1 of the cell (``%%stream NAME ...``).
    startup : float
        For unbounded runs: seconds to wait for the first batch, so compile errors raise
        here rather than in the background.

    Returns
    -------
    Run or Pipeline
        Bounded runs have ended when this returns (their error is raised).
    """
    _check_options(name, batch_size, batches, duration)
    filename = register(line or f"%%stream {name}", cell)
    funcs, value = execute(cell, filename, namespace)
    prog = _program(funcs, value, namespace, source, batch_size)
    for hint in {**(placement or {}), **(parallelism or {})}:
        try:
            prog.match_stages(hint)
        except GraphError as exc:
            raise CellError(f"placement/parallelism hint {hint!r}: {exc}") from None
    if not run:
        if prog.source is not None or prog.elements:
            prog.validate()
        namespace[name] = prog
        return prog
    if prog.source is None:
        raise CellError(f"{name}: the program has no source.\nFix: --source VAR (a numpy "
                        "array, a DataFrame column or a wb.sources... object), or start the "
                        "cell's pipeline with a source; --no-run only builds it.")
    r = prog.run(batches=batches, duration=duration, engine=engine, placement=placement,
                 parallelism=parallelism, widget=widget, name=name)
    namespace[name] = runs.add(r)
    if batches is None and duration is None and prog.source.num_batches is None:
        return _started(r, name, widget, startup)
    return _finished(r, name, widget)


def _started(r: Any, name: str, widget: bool, startup: float) -> Any:
    """An unbounded run: wait for its first batch (a compile error raises here, not in the
    background), then leave it running."""
    deadline = time.monotonic() + startup
    while not r.done and r.source_records == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if r.done:
        r.wait()
    elif widget:
        print(f"{name} runs until stopped (unbounded source): {name}.stop() ends it; "
              "%wb status shows how far it got.")
    return r


def _finished(r: Any, name: str, widget: bool) -> Any:
    """A bounded run: wait for its end (Ctrl-C stops it), then print its summary."""
    try:
        r.wait()
    except KeyboardInterrupt:
        r.stop()
        print(f"{name}: interrupted; the run is stopped.\n{r.summary()}")
        raise
    if widget:
        print(r.summary())
    return r


def reconfigure_line(words: list[str], namespace: dict[str, Any]) -> Any:
    """``%wb reconfigure NAME OP=N ... [--placement OP=WHERE ...] [--restart] [--wait]``:
    ``NAME.reconfigure(parallelism=..., placement=...)`` on the run bound to ``NAME`` (a
    variable, or a ``%%stream`` run's name). Returns the Reconfiguration; ``--wait``
    waits for it and prints its timeline."""
    import argparse

    p = argparse.ArgumentParser(prog="%wb reconfigure", add_help=False, allow_abbrev=False,
                                exit_on_error=False)
    p.add_argument("name")
    p.add_argument("parallelism", nargs="*")
    p.add_argument("--placement", nargs="+", action="extend", default=[])
    p.add_argument("--restart", action="store_true")
    p.add_argument("--wait", action="store_true")
    usage = ("usage: %wb reconfigure NAME OP=N ... [--placement OP=WHERE ...] [--restart] "
             "[--wait]")
    try:
        args, extra = p.parse_known_args(words)
    except argparse.ArgumentError as exc:
        raise CellError(f"%wb reconfigure: {exc}.\n{usage}") from None
    except SystemExit:
        raise CellError(f"%wb reconfigure: NAME is missing.\n{usage}") from None
    if extra:
        raise CellError(f"%wb reconfigure: unexpected {' '.join(extra)!r}.\n{usage}")
    run = namespace.get(args.name)
    if run is None or not hasattr(run, "reconfigure"):
        from . import runs

        run = runs.find(args.name) if run is None else None
    if run is None:
        raise CellError(f"%wb reconfigure: {args.name!r} is not a run in this session.\n"
                        f"Fix: the name a %%stream cell bound, or a variable holding "
                        f"prog.run(...); %wb status lists the runs.")
    par = parse_hints(args.parallelism, "parallelism")
    place = parse_hints(args.placement, "placement")
    if not par and not place:
        raise CellError(f"%wb reconfigure {args.name}: nothing to change.\n{usage}")
    rc = run.reconfigure(parallelism=par or None, placement=place or None,
                         mode="restart" if args.restart else "live")
    if args.wait:
        rc.wait()
        print(rc.timeline.to_string(index=False))
    return rc
