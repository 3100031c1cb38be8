"""Loop fusion analysis (pure): which operators of a segment become one loop.

An operator is *element-wise* when its function is ``def f(x): ... return <expression>``
whose statements are assignments of expressions built from ``x``, numbers (literals or
numeric globals), arithmetic, single comparisons, ``&``/``|``/``^`` and the numpy
functions in :data:`UFUNCS` (plus ``np.where`` with three arguments and ``np.clip``): a
function of each record alone, so a chain of them is one scalar function applied record
by record. An operator is a *loop* over its batch when it reads ``x`` only as
``x[i]`` (one record at a time), ``len(x)``, ``x.size``, ``x.shape``, ``x.ndim`` or
``np.empty_like(x)``/``np.zeros_like(x)``/``np.ones_like(x)``: a chain of element-wise
operators before it can be read through, ``x[i]`` becoming ``f(x0[i])``, with no
intermediate array at all (StreamIt's filter fusion into one work loop).

This module only decides and describes: :func:`loop_groups` gives, per segment, the runs
of operators that become one loop; :mod:`workbench.compile.loops` writes the code, and the
compiled segment checks it against the unfused operators on a run's first batch.

>>> import numpy as np, workbench as wb
>>> @wb.operator
... def scale(x):
...     return x * 2.0
>>> @wb.operator
... def clip(x):
...     return np.minimum(np.maximum(x, -1.0), 1.0)
>>> @wb.operator(state=np.zeros(1))
... def ewma(x, state):
...     out = np.empty_like(x)
...     for i in range(x.size):
...         state[0] = 0.9 * state[0] + 0.1 * x[i]
...         out[i] = state[0]
...     return out
>>> elementwise(scale).lines
('r_ = x_ * 2.0',)
>>> loop_groups((scale, clip, ewma))
((0, 3),)
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from dataclasses import dataclass
from typing import Any

import numpy as np  # numbers are data, not a runtime: allowed in the pure layer

#: numpy functions an element-wise operator may call: ufuncs, which numba also evaluates
#: on single records (``np.where`` and ``np.clip`` are rewritten for records)
UFUNCS = frozenset("""
    abs absolute fabs negative positive sign square sqrt cbrt reciprocal exp exp2 expm1 log
    log2 log10 log1p sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh arcsinh
    arccosh arctanh deg2rad rad2deg degrees radians floor ceil trunc rint minimum maximum
    fmin fmax hypot power float_power copysign isnan isinf isfinite signbit logical_and
    logical_or logical_xor logical_not add subtract multiply divide true_divide
    floor_divide mod remainder fmod
""".split())

#: numpy scalar types an element-wise operator may convert to (``np.float32(2.5)``)
SCALAR_TYPES = frozenset("float64 float32 int64 int32 int16 int8 uint64 uint32 uint16 uint8 "
                         "bool_".split())

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
           ast.BitAnd, ast.BitOr, ast.BitXor)
_CMPOPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_SHAPE_ATTRS = ("size", "shape", "ndim")
_LIKE = ("empty_like", "zeros_like", "ones_like")


@dataclass(frozen=True)
class Elementwise:
    """An element-wise operator as scalar code: ``lines`` compute ``r_`` from the record
    ``x_`` (its locals renamed ``l_<name>``, globals written as literals)."""

    param: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class LoopReads:
    """An operator that loops over its batch reading ``x[i]``: its ``def`` (text), its
    batch parameter and where that parameter is used."""

    text: str
    param: str


class _Refuse(Exception):
    pass


def _source(func: Any) -> ast.FunctionDef | None:
    try:
        text = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, ast.FunctionDef) else None


def _scope(func: Any) -> dict[str, Any]:
    scope = dict(func.__globals__)
    if func.__closure__:
        scope.update(zip(func.__code__.co_freevars,
                         (c.cell_contents for c in func.__closure__)))
    return scope


def _plain(op: Any) -> bool:
    return (op.jit and op.key is None and op.history == 0
            and isinstance(getattr(op, "func", None), types.FunctionType))


def _cached(op: Any, label: str, compute: Any) -> Any:
    key = f"_loops_{label}"
    if key not in op.__dict__:
        object.__setattr__(op, key, compute(op))
    return op.__dict__[key]


def elementwise(op: Any) -> Elementwise | None:
    """The operator as a scalar function of one record, or ``None``."""
    return _cached(op, "elementwise", _elementwise)


def loop_reads(op: Any) -> LoopReads | None:
    """The operator as a loop reading its batch record by record, or ``None``."""
    return _cached(op, "loop", _loop_reads)


def _elementwise(op: Any) -> Elementwise | None:
    if not _plain(op) or op.state is not None or (op.consumes, op.produces) != (1, 1):
        return None
    node = _source(op.func)
    if node is None or _has_extras(node.args) or len(node.args.args) != 1:
        return None
    param = node.args.args[0].arg
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]                                    # the docstring
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return None
    scalar = _Scalar(param, _scope(op.func))
    lines = []
    try:
        for stmt in body[:-1]:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                return None
            name = stmt.targets[0].id
            if name == param:
                return None
            lines.append(f"l_{name} = {scalar.expr(stmt.value)}")
            scalar.locals.add(name)
        lines.append(f"r_ = {scalar.expr(body[-1].value)}")
    except _Refuse:
        return None
    return Elementwise(param, tuple(lines)) if scalar.reads_record else None


def _has_extras(args: ast.arguments) -> bool:
    return bool(args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg
                or args.defaults)


class _Scalar:
    """Translate an array expression of an element-wise body to the record's expression."""

    def __init__(self, param: str, scope: dict[str, Any]) -> None:
        self.param, self.scope = param, scope
        self.locals: set[str] = set()
        self.reads_record = False

    def expr(self, e: ast.expr) -> str:
        return ast.unparse(self._tr(e))

    def _tr(self, e: ast.expr) -> ast.expr:
        if isinstance(e, ast.Constant):
            if isinstance(e.value, (bool, int, float)):
                return e
            raise _Refuse
        if isinstance(e, ast.Name):
            return self._name(e.id)
        if isinstance(e, ast.BinOp) and isinstance(e.op, _BINOPS):
            return ast.BinOp(self._tr(e.left), e.op, self._tr(e.right))
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
            return ast.UnaryOp(e.op, self._tr(e.operand))
        if (isinstance(e, ast.Compare) and len(e.ops) == 1
                and isinstance(e.ops[0], _CMPOPS)):
            return ast.Compare(self._tr(e.left), e.ops, [self._tr(e.comparators[0])])
        if isinstance(e, ast.Call) and not e.keywords:
            return self._call(e)
        raise _Refuse

    def _name(self, name: str) -> ast.expr:
        if name == self.param:
            self.reads_record = True
            return ast.Name("x_", ast.Load())
        if name in self.locals:
            return ast.Name(f"l_{name}", ast.Load())
        value = self.scope.get(name)
        if isinstance(value, bool | int | float) or (
                isinstance(value, np.generic) and value.dtype.kind in "biuf"):
            return ast.parse(_literal(value), mode="eval").body
        raise _Refuse

    def _call(self, e: ast.Call) -> ast.expr:
        fn = self._numpy_function(e.func)
        args = [self._tr(a) for a in e.args]
        np_name = ast.Name("np", ast.Load())

        def ufunc(name: str, *a: ast.expr) -> ast.expr:
            return ast.Call(ast.Attribute(np_name, name, ast.Load()), list(a), [])

        if fn == "where" and len(args) == 3:
            return ast.IfExp(args[0], args[1], args[2])
        if fn == "clip" and len(args) == 3:
            return _bound("minimum", _bound("maximum", args[0], args[1]), args[2])
        if fn in ("minimum", "maximum") and len(args) == 2:
            return _bound(fn, *args)
        if fn in UFUNCS and 1 <= len(args) <= 2:
            return ufunc(fn, *args)
        if fn in SCALAR_TYPES and len(args) == 1:
            return ufunc(fn, *args)
        raise _Refuse

    def _numpy_function(self, f: ast.expr) -> str:
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if self.scope.get(f.value.id) is np and f.value.id not in self.locals:
                return f.attr
        if isinstance(f, ast.Name) and isinstance(self.scope.get(f.id), np.ufunc):
            return self.scope[f.id].__name__
        raise _Refuse


def _bound(fn: str, a: ast.expr, b: ast.expr) -> ast.expr:
    """``np.minimum``/``np.maximum`` of a record: Python's ``min``/``max`` when one side is
    a nonzero finite number (a bound such as ``np.minimum(x, 1.0)``), else the ufunc.

    On one record numba's ``np.minimum`` tests both sides for NaN and branches; its
    ``min`` is one compare and select (a quarter of an 8-operator loop's time here). With
    a nonzero finite constant, written second, they agree on every record, NaN,
    infinities and signed zeros included (a NaN record comes out NaN from both; zeros
    tie only with a zero constant, where the sign returned differs: not rewritten);
    ``tests/compile/test_loop_fusion.py`` checks this."""
    if _nonzero_number(a) and not _nonzero_number(b):
        a, b = b, a                       # the record first: min(NaN, 1.0) is NaN,
    if _nonzero_number(b):                # min(1.0, NaN) is 1.0
        return ast.Call(ast.Name({"minimum": "min", "maximum": "max"}[fn], ast.Load()),
                        [a, b], [])
    return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), fn, ast.Load()), [a, b], [])


def _nonzero_number(e: ast.expr) -> bool:
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub | ast.UAdd):
        e = e.operand
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) \
            and e.func.attr in SCALAR_TYPES and len(e.args) == 1:
        e = e.args[0]                     # np.float32(2.5), a numeric global
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub | ast.UAdd):
            e = e.operand
    return (isinstance(e, ast.Constant) and type(e.value) in (int, float)
            and e.value != 0 and np.isfinite(e.value))


def _literal(value: Any) -> str:
    if isinstance(value, np.generic):
        return f"np.{value.dtype.name}({value.item()!r})"
    return repr(value)


def _loop_reads(op: Any) -> LoopReads | None:
    if not _plain(op):
        return None
    node = _source(op.func)
    if node is None or _has_extras(node.args) or not node.args.args:
        return None
    if len(node.args.args) != (2 if op.state is not None else 1):
        return None
    param = node.args.args[0].arg
    parents = {child: parent for parent in ast.walk(node)
               for child in ast.iter_child_nodes(parent)}
    reads = 0
    for n in ast.walk(node):
        if isinstance(n, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)) and n is not node:
            if any(isinstance(m, ast.Name) and m.id == param for m in ast.walk(n)):
                return None
        if not (isinstance(n, ast.Name) and n.id == param):
            continue
        if not isinstance(n.ctx, ast.Load):
            return None                                # x is assigned to
        use = _use(n, parents)
        if use is None:
            return None
        reads += use == "read"
    if not reads:
        return None
    node.decorator_list = []
    return LoopReads(ast.unparse(node), param)


def _use(n: ast.Name, parents: dict) -> str | None:
    """How the batch is used at ``n``: ``read`` (``x[i]``), ``size`` (its length or an
    array like it), or ``None`` (anything else: not a loop over records)."""
    p = parents.get(n)
    if isinstance(p, ast.Subscript) and p.value is n and isinstance(p.ctx, ast.Load):
        index = p.slice
        if isinstance(index, (ast.Slice, ast.Tuple)):
            return None
        return "read"
    if isinstance(p, ast.Attribute) and p.value is n and p.attr in _SHAPE_ATTRS:
        return "size"
    if isinstance(p, ast.Call) and p.args == [n] and not p.keywords:
        f = p.func
        if isinstance(f, ast.Name) and f.id == "len":
            return "size"
        if isinstance(f, ast.Attribute) and f.attr in _LIKE:
            return "size"
    return None


def loop_groups(ops: tuple) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` index ranges of ``ops`` that become one loop each: a run of
    element-wise operators, with the loop over records after it when there is one (runs
    of one element-wise operator alone stay as they are)."""
    groups, i = [], 0
    while i < len(ops):
        if elementwise(ops[i]) is None:
            i += 1
            continue
        j = i
        while j < len(ops) and elementwise(ops[j]) is not None:
            j += 1
        if j < len(ops) and loop_reads(ops[j]) is not None:
            groups.append((i, j + 1))
            i = j + 1
        else:
            if j - i >= 2:
                groups.append((i, j))
            i = j
    return tuple(groups)
