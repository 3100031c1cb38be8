"""``%%function NAME [--placement WHERE]`` without IPython: :func:`function_cell`.

The cell is ordinary Python; the function it defines (the one called ``NAME``, else its
only or last top-level function) becomes a :class:`~workbench.functions.Function` bound
to ``NAME``. The cell is registered in :mod:`linecache` with the magic line as line 1, so
numba gets the source and errors cite the lines the user sees.

>>> ns = {}
>>> fn = function_cell("double", "def double(x):\\n    return 2 * x\\n", ns,
...                    placement="compute")
>>> ns["double"] is fn, fn.placement, fn.py_func(21)
(True, 'compute', 42)
"""

from __future__ import annotations

from typing import Any

from ..errors import CellError, PlacementError
from ..functions import Function
from ..placement import hints
from .cell import execute, register


def function_cell(name: str, cell: str, namespace: dict, *, placement: Any = "auto",
                  line: str | None = None) -> Function:
    """Run the cell in ``namespace`` and bind ``namespace[name]`` to its function."""
    if not name.isidentifier():
        raise CellError(f"{name!r} is not a Python name; %%function NAME binds the function "
                        "to it.")
    if isinstance(placement, str):          # as written on the magic line
        try:
            placement = hints.parse(placement, f"%%function {name} --placement",
                                    allow_auto=True)
        except PlacementError as exc:
            raise CellError(f"{exc}\nFix: --placement auto.") from None
    hints.check(placement, f"function '{name}'", allow_auto=True)
    filename = register(line or f"%%function {name}", cell)
    (names, used), _ = execute(cell, filename, namespace)
    if not names:
        raise CellError(f"%%function {name}: the cell defines no function.\nFix: write "
                        f"def {name}(x): ... in the cell.")
    if name in names:
        pick = name
    else:
        top = [n for n in names if n not in used] or names
        pick = top[-1]
    func = namespace[pick]
    if isinstance(func, Function):
        func = func.func
    fn = Function(func, placement, name=name)
    _validate(fn)
    namespace[name] = fn
    return fn


def _validate(fn: Function) -> None:
    """With a cluster already running, refuse a placement no worker satisfies now."""
    if fn.placement == "auto":
        return
    from ..runtime.cluster import current

    if current() is not None:
        from ..runtime.functions import runtime

        runtime().targets(fn)
