"""Turn a function defined anywhere (a notebook cell included) into module text.

numba caches only functions that live in a file, keyed by the file's path and contents. A
function typed into a notebook cell has no such file, so each operator is written out as a
small module: its own source (decorators removed), the sources of the helper functions it
calls, and the globals it reads (modules as imports, numbers and strings as literals,
arrays as content-addressed ``.npy`` files). The text is then a complete description of
the compiled code, so its hash is a sound cache key: change a constant in the cell and the
key changes with it (numba's own cache would silently keep the old value).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CompileError

_SCALARS = (bool, int, float, complex, str, bytes, type(None))


@dataclass
class Origin:
    """Where a function's text came from, to map compile errors back to the cell."""

    name: str
    filename: str
    def_line: int          # line of ``def`` in the original file or cell
    module_line: int = 0   # line of ``def`` in the generated module
    lines: int = 0

    def describe(self, module_line: int | None = None) -> str:
        where = "cell" if _is_cell(self.filename) else self.filename
        if module_line is None:
            return f"{where} line {self.def_line}"
        return f"{where} line {self.def_line + module_line - self.module_line}"


def _is_cell(filename: str) -> bool:
    return (filename.startswith("<") or "ipykernel_" in filename
            or "/ipython-input" in filename or filename.startswith("/tmp/xpython"))


@dataclass
class ModuleText:
    """Generated module source plus what is needed to load it and explain errors."""

    text: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    origins: list[Origin] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def function_text(func: Callable, op_name: str) -> tuple[str, Origin]:
    """Source of ``func`` from its ``def`` line on, dedented, and where it came from."""
    try:
        lines, start = inspect.getsourcelines(func)
    except (OSError, TypeError) as exc:
        raise CompileError(
            f"operator '{op_name}': numba needs the source code of {func.__qualname__}, and "
            f"Python has none ({exc}).\nFix: define it with def in a cell or a file (not with "
            "exec or in the interactive prompt without IPython), or use jit=False.") from None
    snippet = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(snippet)
    except SyntaxError:
        tree = None
    node = tree.body[0] if tree is not None and tree.body else None
    if not isinstance(node, ast.FunctionDef):
        raise CompileError(
            f"operator '{op_name}': only functions written with def can be compiled; "
            f"{func.__qualname__} is a lambda or has no plain def.\nFix: write "
            f"def {op_name}(x): ..., or use jit=False.")
    body = snippet.splitlines(keepends=True)[node.lineno - 1:node.end_lineno]
    text = "".join(body)
    if not text.endswith("\n"):
        text += "\n"
    origin = Origin(func.__name__, func.__code__.co_filename, start + node.lineno - 1,
                    lines=len(body))
    return text, origin


def _names(code: types.CodeType) -> set[str]:
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


def _default_names(text: str) -> set[str]:
    """Names read by a def's default values (evaluated where the def runs)."""
    node = ast.parse(text).body[0]
    args = node.args  # type: ignore[attr-defined]
    exprs = [d for d in [*args.defaults, *args.kw_defaults] if d is not None]
    return {n.id for e in exprs for n in ast.walk(e) if isinstance(n, ast.Name)}


def _literal(value: Any) -> str | None:
    if isinstance(value, _SCALARS):
        return repr(value)
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return f"np.{value.dtype.name}({value.item()!r})"
    if isinstance(value, np.dtype):
        return f"np.dtype({value.str!r})"
    if isinstance(value, tuple) and all(_literal(v) is not None for v in value):
        inner = ", ".join(_literal(v) for v in value)  # type: ignore[misc]
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return None


class ModuleBuilder:
    """Collects an operator's function, helpers and globals into one module text."""

    def __init__(self, op_name: str) -> None:
        self.op_name = op_name
        self.bindings: dict[str, str] = {"np": "import numpy as np"}
        self.values: dict[str, Any] = {}
        self.functions: list[tuple[str, str, Origin, bool]] = []
        self.callables: list[Callable] = []       # the functions, entry first
        self.arrays: dict[str, np.ndarray] = {}
        self._seen: set[int] = set()

    def add(self, func: Callable, entry: bool) -> None:
        func = getattr(func, "py_func", func)
        if id(func) in self._seen:
            return
        self._seen.add(id(func))
        text, origin = function_text(func, self.op_name)
        self.callables.append(func)
        self.functions.append((func.__name__, text, origin, entry))
        scope = dict(func.__globals__)
        if func.__closure__:
            scope.update(zip(func.__code__.co_freevars,
                             (c.cell_contents for c in func.__closure__)))
            names = _names(func.__code__) | set(func.__code__.co_freevars)
        else:
            names = _names(func.__code__)
        names |= _default_names(text)      # def f(x, k=K): K is read when the module loads
        for name in sorted(names):
            if name in scope:
                self._bind(name, scope[name], func.__name__)

    def _bind(self, name: str, value: Any, user: str) -> None:
        from ..model.graph import Operator

        if name in self.values:
            if self.values[name] is value:
                return
            raise CompileError(
                f"operator '{self.op_name}': the name {name!r} means two different things in "
                f"the functions it uses.\nFix: give one of them another name.")
        self.values[name] = value
        if isinstance(value, Operator):
            value = value.func
        if isinstance(value, types.ModuleType):
            mod = value.__name__
            self.bindings[name] = (f"import {mod}" if mod == name else
                                   f"import {mod} as {name}" if "." not in mod else
                                   f"from {mod.rsplit('.', 1)[0]} import "
                                   f"{mod.rsplit('.', 1)[1]} as {name}")
            return
        lit = _literal(value)
        if lit is not None:
            self.bindings[name] = f"{name} = {lit}"
            return
        if isinstance(value, np.ndarray):
            digest = hashlib.sha256(value.tobytes() + str(value.dtype).encode()
                                    + str(value.shape).encode()).hexdigest()[:24]
            self.arrays[digest] = value
            self.bindings[name] = f"{name} = __wb_array__({digest!r})"
            return
        if isinstance(value, np.ufunc):
            self.bindings[name] = f"from numpy import {value.__name__} as {name}"
            return
        py = getattr(value, "py_func", value)
        if isinstance(py, types.FunctionType):
            module = getattr(py, "__module__", None) or "__main__"
            if py is not value and module not in ("__main__", "builtins") and \
                    not module.startswith("wb_") and _importable(module, py.__name__):
                # a jitted function of an installed library: numba caches it there
                self.bindings[name] = f"from {module} import {py.__name__} as {name}"
                return
            if py.__name__ != name:
                raise CompileError(
                    f"operator '{self.op_name}': {user} calls {py.__name__} under the name "
                    f"{name!r}.\nFix: call it by its own name.")
            self.add(py, entry=False)
            return
        if inspect.isbuiltin(value) and getattr(value, "__module__", None):
            self.bindings[name] = f"from {value.__module__} import {value.__name__} as {name}"
            return
        raise CompileError(
            f"operator '{self.op_name}': {user} uses the global {name!r}, a "
            f"{type(value).__name__}, which a compiled operator cannot capture.\nExpected: "
            "modules, numbers, strings, tuples, numpy arrays or other functions.\nFix: pass "
            f"it in as state=..., make it a constant, or run plain Python with jit=False.")

    def build(self, header: str) -> ModuleText:
        lines = [f"# {h}" for h in header.splitlines()]
        # annotations name things this module does not import (typing.Any, ...): keep
        # them unevaluated; numba ignores them
        lines.append("from __future__ import annotations")
        lines += sorted(self.bindings.values())
        out = ModuleText("", self.arrays)
        body = "\n".join(lines) + "\n"
        for fname, text, origin, entry in self.functions:
            body += "\n\n"
            origin.module_line = body.count("\n") + 1
            body += text
            if not entry:
                body += f"{fname} = __wb_jit__({fname})\n"
            out.origins.append(origin)
        out.text = body
        return out


def _importable(module: str, name: str) -> bool:
    import importlib

    try:
        return getattr(importlib.import_module(module), name, None) is not None
    except Exception:  # noqa: BLE001 - any failure means: not importable, inline it
        return False


def operator_module(op: Any, toolchain: str) -> ModuleText:
    """Module text for one operator; its hash is the artifact key."""
    builder = ModuleBuilder(op.name)
    builder.add(op.func, entry=True)
    header = (f"workbench artifact: operator '{op.name}'\n"
              f"toolchain: {toolchain}\nentry: {op.func.__name__}")
    return builder.build(header)
