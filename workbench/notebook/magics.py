"""IPython magics: ``%%stream``, ``%%function``, ``%wb``: thin parsers over plain
functions (:func:`~workbench.notebook.stream_cell.stream_cell`,
:func:`~workbench.notebook.function_cell.function_cell`) that work the same in a script
and in pytest.

The notebook layer imports IPython (and so does ``observe`` for display);
``workbench.load_ipython_extension`` imports this module lazily. Workbench errors are
shown with their message on top and only the user's own frames below it (``%tb`` shows
all)."""

from __future__ import annotations

import difflib
import os
import traceback
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..errors import CellError, WorkbenchError
from . import runs
from .stream_cell import parse_hints, stream_cell

WB_USAGE = """\
%wb status                       runs started by %%stream in this session, and where they run
%wb cluster [ADDR|local|docker]  start or connect to the Dask cluster, show its workers
%wb functions [--text]           functions: calls/s, placement, latest decision and why
                                 (a live board in a notebook; --text: the text view)
%wb reconfigure NAME OP=N ... [--placement OP=WHERE ...] [--restart] [--wait]
                                 change a running program's parallelism and placement
                                 live (--restart: the stop-and-restart baseline)"""


@magic_arguments()
@argument("name", metavar="NAME", help="variable bound to the Run (the Pipeline with --no-run)")
@argument("--source", metavar="VAR", help="numpy array, DataFrame column (df.col) or Source")
@argument("--batch-size", type=int, metavar="N", help="records per batch of an array source")
@argument("--batches", type=int, metavar="N", help="stop after N batches")
@argument("--duration", type=float, metavar="S", help="stop after S seconds")
@argument("--placement", nargs="+", action="extend", metavar="OP=WHERE",
          help="WHERE: compute, storage, a worker address or NAME:N resources")
@argument("--parallelism", nargs="+", action="extend", metavar="OP=N", help="instances of OP")
@argument("--no-run", action="store_true", help="bind the Pipeline; run nothing")
@argument("--no-widget", action="store_true", help="no dashboard or summary")
@argument("--engine", choices=("local", "dask"), default=None,
          help="default: dask ($WORKBENCH_ENGINE changes it)")
def stream(line: str, cell: str) -> None:
    """Build a stream program from the cell's functions and run it.

    Top-level functions become operators, chained in order behind ``--source``, unless
    the cell's last line is a pipeline (``src >> scale >> mean4``).
    """
    args = _parse(stream, line)
    try:
        stream_cell(
            args.name, cell, _shell().user_ns, source=args.source, batch_size=args.batch_size,
            batches=args.batches, duration=args.duration,
            placement=parse_hints(args.placement, "placement"),
            parallelism=parse_hints(args.parallelism, "parallelism"),
            run=not args.no_run, widget=not args.no_widget, engine=args.engine,
            line=f"%%stream {line}")
    except CellError as exc:
        raise UsageError(str(exc)) from None


def _cell_magic(func: Any) -> None:
    """Usage lines of a cell magic say ``%%name`` (magic_arguments writes ``%name``); no
    abbreviated options (``--dur`` is not ``--duration``: name options in full)."""
    func.parser.allow_abbrev = False
    func.parser.prog = f"%{func.__name__}"      # its formatter adds one more %
    func.__doc__ = func.__doc__.replace(f"%{func.__name__} ", f"%%{func.__name__} ", 1)


_cell_magic(stream)


@magic_arguments()
@argument("name", metavar="NAME", help="variable bound to the function")
@argument("--placement", default="auto", metavar="WHERE",
          help="auto (default), storage, compute or a worker address")
def function(line: str, cell: str) -> None:
    """The cell's function becomes a remote function bound to NAME (``wb.function``)."""
    from .function_cell import function_cell

    args = _parse(function, line)
    try:
        function_cell(args.name, cell, _shell().user_ns, placement=args.placement,
                      line=f"%%function {line}")
    except CellError as exc:
        raise UsageError(str(exc)) from None


_cell_magic(function)


def wb(line: str) -> Any:
    """``%wb status`` lists this session's %%stream runs; ``%wb`` alone shows usage."""
    cmd, *rest = line.split() or [""]
    if cmd == "status":
        print(runs.status())
    elif cmd == "cluster":
        from ..runtime.cluster import cluster

        try:
            print(repr(cluster(rest[0] if rest else None)))
        except WorkbenchError as exc:
            raise UsageError(str(exc)) from None
    elif cmd == "functions":
        from ..functions import summary
        from ..observe.widgets import in_kernel, show_functions

        if "--text" in rest or not in_kernel() or show_functions() is None:
            print(summary())
    elif cmd == "reconfigure":
        from .stream_cell import reconfigure_line

        try:
            return reconfigure_line(rest, _shell().user_ns)
        except (CellError, WorkbenchError) as exc:
            raise UsageError(str(exc)) from None
    elif cmd in ("", "help", "-h", "--help"):
        print(WB_USAGE)
    else:
        raise UsageError(f"%wb {cmd}: unknown command.\n{WB_USAGE}")


def _parse(func: Any, line: str) -> Any:
    try:
        return parse_argstring(func, line)
    except UsageError as exc:
        opts = sorted(s for a in func.parser._actions for s in a.option_strings
                      if s.startswith("--") and s != "--help")
        hint = ""
        for word in line.split():
            close = difflib.get_close_matches(word.split("=")[0], opts, n=1)
            if word.startswith("--") and word not in opts and close:
                hint = f" Did you mean {close[0]}?"
                break
        raise UsageError(f"%%{func.__name__}: {exc}.{hint}\nValid options: {', '.join(opts)} "
                         f"(%%{func.__name__}? shows help).") from None


def _shell() -> Any:
    from IPython import get_ipython

    return get_ipython()


# --- showing workbench errors --------------------------------------------------------------
_HIDE = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.__file__))


def _user_frames(tb: Any) -> list[str]:
    out = []
    for fr in traceback.extract_tb(tb):
        name = fr.filename
        if (name.startswith(_HIDE) or "site-packages" in name or not fr.line
                or fr.line.startswith("get_ipython().run_")):
            continue            # library and generated code, and the magic call itself
        where = "cell" if name.startswith("<") or "ipykernel_" in name else name
        out.append(f"  {where} line {fr.lineno}, in {fr.name}: {(fr.line or '').strip()}")
    return out


def show_workbench_error(shell: Any, etype: type, value: BaseException, tb: Any,
                         tb_offset: int | None = None) -> list[str]:
    """IPython custom exception handler: the message first, the user's frames, a hint."""
    shell._get_exc_info((etype, value, tb))   # sys.last_*: %tb and %debug see all of it
    colors = str(getattr(shell, "colors", "nocolor")).lower()
    red, reset = ("\x1b[0;31m", "\x1b[0m") if colors != "nocolor" else ("", "")
    stb = [f"{red}{etype.__name__}{reset}: {value}"]
    frames = _user_frames(tb)
    if frames:
        stb += ["", "Raised from:", *frames]
    if value.__cause__ is not None or getattr(value, "original", None) is not None:
        stb += ["", "(%tb shows the full traceback with the original exception)"]
    shell._showtraceback(etype, value, stb)
    return stb


def register(ipython: Any) -> None:
    """Register ``%%stream``, ``%%function``, ``%wb`` and the workbench error display on a
    shell (``%load_ext workbench`` also binds ``wb`` in its namespace)."""
    ipython.register_magic_function(stream, "cell", "stream")
    ipython.register_magic_function(wb, "line", "wb")
    ipython.register_magic_function(function, "cell", "function")
    from .offload_magic import offload

    ipython.register_magic_function(offload, "line", "offload")
    prev_types, prev_handler = ipython.custom_exceptions, getattr(ipython, "CustomTB", None)
    if WorkbenchError in prev_types:
        return

    def handler(shell: Any, etype: type, value: BaseException, tb: Any,
                tb_offset: int | None = None) -> list[str]:
        if isinstance(value, WorkbenchError):
            return show_workbench_error(shell, etype, value, tb, tb_offset)
        return prev_handler(etype, value, tb, tb_offset=tb_offset)

    ipython.set_custom_exc(tuple(prev_types) + (WorkbenchError,), handler)


__all__ = ["function", "register", "show_workbench_error", "stream", "wb"]
