"""Before a function's first call: what in its source numba's nopython mode cannot compile.

A function body is compiled where it runs, at its first call. Some constructs numba
rejects with an error that is not a typing error (an ``import`` statement raises
``UnsupportedBytecodeError``), and some it compiles to a different result (an f-string
interpolating a float gives ``'<object type:float64>'``). Reading the source first decides
those cases before anything runs: such bodies run as plain Python and the reason names the
construct and its line. What this check lets through is still tried by numba where it runs,
and any numba error there also falls back to plain Python (``workbench.runtime.functions``).

>>> def stamp(x):
...     import time
...     return x, time.time()
>>> print(obstacle(stamp))
numba could not type it (read before the first call): an import statement at ...
>>> def total(x):
...     s = 0.0
...     for v in x:
...         s += v
...     return s
>>> obstacle(total) is None
True
"""

from __future__ import annotations

import ast
import inspect
import types
from collections.abc import Callable

from .source import _is_cell

# modules numba types calls into (their functions, not arbitrary Python ones)
NUMBA_MODULES = ("numpy", "math", "cmath", "random", "numba", "operator")


def obstacle(func: Callable) -> str | None:
    """Why numba cannot compile ``func`` (and its nested functions), read from its source;
    ``None`` when nothing in the source stands in the way (numba may still refuse it)."""
    try:
        lines, start = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None                  # the module builder says why (no source)
    import textwrap

    text = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    fdef = tree.body[0] if tree.body else None
    if not isinstance(fdef, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    src = text.splitlines()
    where = "cell" if _is_cell(func.__code__.co_filename) else func.__code__.co_filename
    for node, what in _findings(fdef, func):
        line = getattr(node, "lineno", fdef.lineno)
        code = src[line - 1].strip() if 0 < line <= len(src) else ""
        return (f"numba could not type it (read before the first call): {what} at {where} "
                f"line {start + line - 1}: `{code}`; runs as plain Python")
    return None


def _findings(fdef: ast.AST, func: Callable):
    if isinstance(fdef, ast.AsyncFunctionDef):
        yield fdef, "an async function"
        return
    for node in ast.walk(fdef):
        what = _construct(node, fdef)
        if what is None and isinstance(node, ast.Attribute):
            what = _python_call(node, func)
        if what is not None:
            yield node, what


_NAMES = {ast.Import: "an import statement", ast.ImportFrom: "an import statement",
          ast.With: "a with statement", ast.AsyncWith: "an async with statement",
          ast.ClassDef: "a class definition", ast.Global: "a global statement",
          ast.Nonlocal: "a nonlocal statement", ast.Await: "await",
          ast.DictComp: "a dict comprehension", ast.SetComp: "a set comprehension",
          ast.GeneratorExp: "a generator expression", ast.YieldFrom: "yield from",
          ast.AsyncFunctionDef: "an async function"}


def _construct(node: ast.AST, fdef: ast.AST) -> str | None:
    what = _NAMES.get(type(node))
    if what is not None:
        return what
    if isinstance(node, ast.Yield):
        return "yield (a generator)"
    if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue)
                                               for v in node.values):
        # numba formats only some types, and others silently as '<object type:...>'
        return "an f-string with a value in it"
    if isinstance(node, ast.ExceptHandler):
        if node.name:
            return f"an exception bound to a name (except ... as {node.name})"
        if node.type is not None and not (isinstance(node.type, ast.Name)
                                          and node.type.id == "Exception"):
            return (f"except {ast.unparse(node.type)} (numba catches only a bare except or "
                    "except Exception)")
    return None


def _python_call(node: ast.Attribute, func: Callable) -> str | None:
    """``json.dumps``: an attribute of a module numba does not type, that is plain Python."""
    chain = [node.attr]
    base: ast.AST = node.value
    while isinstance(base, ast.Attribute):
        chain.append(base.attr)
        base = base.value
    if not isinstance(base, ast.Name):
        return None
    value = func.__globals__.get(base.id)
    if not isinstance(value, types.ModuleType):
        return None
    if value.__name__.split(".")[0] in NUMBA_MODULES:
        return None
    for attr in reversed(chain):
        value = getattr(value, attr, None)
        if value is None or not isinstance(value, types.ModuleType):
            break
    if value is None or isinstance(value, types.ModuleType) or hasattr(value, "py_func"):
        return None                  # unknown, a module, or numba-compiled already
    dotted = ".".join([base.id, *reversed(chain)])
    kind = type(value).__name__
    return f"{dotted}, a Python {kind} numba does not compile"
