"""What every workbench cell shares: the cell's text in :mod:`linecache` and its execution.

A cell is registered under a synthetic file name with the magic line as line 1, so numba
(and tracebacks) see each function's source and errors cite the line the user sees in the
notebook. :func:`execute` runs the cell in the user's namespace and reports the functions
it defines, in order, and the value of its last expression.

>>> filename = register("%%stream demo", "def f(x):\\n    return x\\n")
>>> (names, used), value = execute("def f(x):\\n    return x\\nf", filename, {})
>>> names, value.__name__
(['f'], 'f')
"""

from __future__ import annotations

import ast
import itertools
import linecache
from typing import Any

from ..errors import CellSyntaxError

_CELLS = itertools.count(1)


def register(header: str, cell: str) -> str:
    """Put ``header`` + ``cell`` in linecache under a new synthetic name; return it."""
    filename = f"<wb-stream-cell-{next(_CELLS)}>"
    text = header.rstrip("\n") + "\n" + cell
    if not text.endswith("\n"):
        text += "\n"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    return filename


def functions(tree: ast.Module) -> tuple[list[str], set[str]]:
    """Top-level function names in definition order, and the names the cell reads
    (a function calling itself does not count)."""
    order: dict[str, ast.FunctionDef] = {}
    used: set[str] = set()
    for stmt in tree.body:
        own = stmt.name if isinstance(stmt, ast.FunctionDef) else None
        used |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Load) and n.id != own}
        if own is not None:
            order.pop(own, None)
            order[own] = stmt          # a redefinition moves to its new place
    return list(order), used


def execute(cell: str, filename: str, namespace: dict) -> tuple[tuple, Any]:
    """Run the cell in ``namespace``; return (its functions, value of a last expression)."""
    try:
        tree = ast.parse("\n" + cell, filename)   # line 1 is the magic line
    except SyntaxError as exc:
        text = (exc.text or "").rstrip("\n")
        caret = "" if not text or not exc.offset else "\n    " + " " * (exc.offset - 1) + "^"
        raise CellSyntaxError(f"the cell is not valid Python, at cell line {exc.lineno}:\n"
                              f"    {text}{caret}\nSyntaxError: {exc.msg}") from None
    funcs = functions(tree)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)  # noqa: S102 - the user's own cell
    value = eval(compile(last, filename, "eval"), namespace) if last else None  # noqa: S307
    return funcs, value
