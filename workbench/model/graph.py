"""Operators and programs as frozen data.

Building a program runs nothing: ``src >> scale >> mean4`` makes a :class:`Pipeline`, a
frozen value that engines plan and run. This module is pure: it imports no numba, Dask or
IPython: what needs a higher layer (compiling an operator called directly, running a
program) goes through :mod:`workbench.model.backends`, which the package face fills in.

Examples
--------
>>> import numpy as np
>>> import workbench as wb
>>> @wb.operator(consumes=4, produces=1, jit=False)
... def mean4(x):
...     return x.reshape(-1, 4).mean(axis=1)
>>> prog = wb.sources.array(np.arange(16.0), batch_size=8) >> mean4
>>> prog.stage_names
('mean4',)
>>> prog.validate().repetitions
{'source': 4, 'mean4': 1}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import GraphError
from . import backends
from .sdf import Solution, solve

if TYPE_CHECKING:
    import numpy as np

DEFAULT_KEY_GROUPS = 32


class Source:
    """Base of all sources (:mod:`workbench.model.sources`); ``src >> op`` starts a
    pipeline. Batch ``i`` is a pure function of ``i`` (sources are replayable)."""

    num_batches: int | None = None

    def batch(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def batches(self, limit: int | None = None, start: int = 0):
        n = self.num_batches if limit is None else (
            limit if self.num_batches is None else min(limit, self.num_batches))
        i = start
        while n is None or i < n:
            yield i, self.batch(i)
            i += 1

    def __rshift__(self, other: Any) -> Pipeline:
        return Pipeline(self, ()) >> other



def _describe(obj: Any) -> str:
    return f"{type(obj).__name__} {obj!r}"[:80]


def _check_state(name: str, state: Any) -> None:
    import numpy as np  # numpy is data, not a runtime: allowed in the pure layer

    arrays = state if isinstance(state, tuple) else (state,)
    for a in arrays:
        if not isinstance(a, np.ndarray):
            raise GraphError(
                f"operator '{name}': state must be a numpy array or a tuple of numpy arrays; "
                f"got {_describe(a)}.\nFix: state=np.zeros(1) (and use state[0] in the body).")


@dataclass(frozen=True, eq=False)
class Operator:
    """A batch-in, batch-out function with SDF rates and optional state.

    Use :func:`operator` to make one. ``consumes``/``produces`` are records per firing:
    a batch of ``n`` records must come back with ``n // consumes * produces`` records.
    ``state`` is a template: each stage instance (and, with ``key``, each key group) gets
    its own copy, mutated in place by the function.
    """

    func: Callable
    name: str
    consumes: int = 1
    produces: int = 1
    state: Any = None
    key: str | Callable | None = None
    key_groups: int = DEFAULT_KEY_GROUPS
    jit: bool = True

    def __post_init__(self) -> None:
        for label in ("consumes", "produces"):
            v = getattr(self, label)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise GraphError(
                    f"operator '{self.name}': {label} must be a positive integer (records per "
                    f"firing); got {_describe(v)}.\nFix: @wb.operator({label}=4).")
        if self.state is not None:
            _check_state(self.name, self.state)
        if self.key is not None:
            if self.state is None:
                raise GraphError(
                    f"operator '{self.name}': key={self.key!r} routes records to keyed state, "
                    "but the operator has no state.\nFix: add state=np.zeros(...) or drop key.")
            if (self.consumes, self.produces) != (1, 1):
                raise GraphError(
                    f"operator '{self.name}': keyed operators must be 1:1 (consumes=1, "
                    f"produces=1); got consumes={self.consumes}, produces={self.produces}.\n"
                    "Fix: emit one record per input record (e.g. the running aggregate).")
            if not (isinstance(self.key, str) or callable(self.key)):
                raise GraphError(
                    f"operator '{self.name}': key must be a field name or a function of the "
                    f"batch returning integer keys; got {_describe(self.key)}.")
            if not isinstance(self.key_groups, int) or self.key_groups < 1:
                raise GraphError(f"operator '{self.name}': key_groups must be a positive "
                                 f"integer; got {_describe(self.key_groups)}.")

    # --- direct calls: handy in a notebook and in tests -------------------------------
    @property
    def py_func(self) -> Callable:
        """The original Python function (as numba's ``py_func``)."""
        return self.func

    @property
    def stateful(self) -> bool:
        return self.state is not None

    def __call__(self, *args: Any) -> Any:
        """Call the operator on one batch (compiled unless ``jit=False``)."""
        if not self.jit:
            return self.func(*args)
        return backends.backend("compiler", "operator")(self)(*args)

    def __repr__(self) -> str:
        opts = []
        if (self.consumes, self.produces) != (1, 1):
            opts.append(f"consumes={self.consumes}, produces={self.produces}")
        if self.state is not None:
            opts.append("stateful")
        if self.key is not None:
            opts.append(f"key={self.key!r}")
        if not self.jit:
            opts.append("jit=False")
        return f"<operator {self.name}{' ' + ', '.join(opts) if opts else ''}>"

    # --- composition --------------------------------------------------------------------
    def __rshift__(self, other: Any) -> Pipeline:
        return Pipeline(None, (self,)) >> other

    def __rrshift__(self, other: Any) -> Pipeline:
        return as_pipeline(other) >> self


def operator(func: Callable | None = None, *, consumes: int = 1, produces: int = 1,
             state: Any = None, key: str | Callable | None = None,
             key_groups: int = DEFAULT_KEY_GROUPS, jit: bool = True,
             name: str | None = None) -> Any:
    """Make a stream operator from a function ``f(batch) -> batch`` (or ``f(batch, state)``).

    Parameters
    ----------
    consumes, produces : int
        SDF rates: records consumed and produced per firing.
    state : numpy array or tuple of arrays, optional
        Initial state; the function receives it as its second argument and mutates it.
    key : str or callable, optional
        Keyed state: a record field (structured batches) or ``f(batch) -> int array``.
        Records are routed into ``key_groups`` groups, each with its own copy of ``state``;
        the function sees one group's records at a time, in input order, and its output
        records go back to their input records' places (the operator keeps record order,
        also across parallel instances). Key ``k`` is in group
        ``((k * 11400714819323198485) mod 2**64 >> 33) mod key_groups`` (Fibonacci
        hashing); parallel instances own contiguous ranges of groups.
    jit : bool
        ``False`` runs plain Python (anything goes; no numba).
    name : str, optional
        Stage name; defaults to the function's name.

    Examples
    --------
    >>> import workbench as wb
    >>> @wb.operator
    ... def scale(x):
    ...     return x * 2.0
    >>> scale
    <operator scale>
    """
    def wrap(f: Callable) -> Operator:
        if isinstance(f, Operator):
            raise GraphError(
                f"@wb.operator was applied twice to '{f.name}'.\nFix: decorate once; the "
                f"original function is {f.name}.py_func.")
        f = getattr(f, "py_func", f)  # accept a numba dispatcher: keep its Python source
        if not callable(f):
            raise GraphError(f"@wb.operator needs a function; got {_describe(f)}.")
        return Operator(f, name or f.__name__, consumes, produces, state, key, key_groups, jit)

    if func is not None:
        return wrap(func)
    return wrap


def as_operator(obj: Any) -> Operator:
    if isinstance(obj, Operator):
        return obj
    if callable(obj) and not isinstance(obj, (Pipeline, SplitJoin)):
        return operator(obj)
    raise GraphError(f"expected an operator, a function or a pipeline; got {_describe(obj)}.\n"
                     "Fix: decorate the function with @wb.operator.")


def as_pipeline(obj: Any) -> Pipeline:
    if isinstance(obj, Pipeline):
        return obj
    if isinstance(obj, Source):
        return Pipeline(obj, ())
    if isinstance(obj, SplitJoin):
        return Pipeline(None, (obj,))
    return Pipeline(None, (as_operator(obj),))


@dataclass(frozen=True, eq=False)
class SplitJoin:
    """A StreamIt split-join: split the stream over branches, run them, join roundrobin.

    ``split="duplicate"`` gives every branch every record; ``"roundrobin"`` deals records
    to branches in blocks of ``split_weights`` (default 1 each). The join takes records
    roundrobin in blocks of ``join_weights``; by default these follow the branch rates, so
    the graph is always consistent. Explicit weights that disagree with the branch rates
    make :meth:`Pipeline.validate` fail, naming the branches.
    """

    branches: tuple[Pipeline, ...]
    split: str = "duplicate"
    join: str = "roundrobin"
    split_weights: tuple[int, ...] | None = None
    join_weights: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.branches) < 2:
            raise GraphError(f"splitjoin needs at least two branches; got {len(self.branches)}.")
        if self.split not in ("duplicate", "roundrobin"):
            raise GraphError(f"splitjoin: split must be 'duplicate' or 'roundrobin'; got "
                             f"{self.split!r}.")
        if self.join != "roundrobin":
            raise GraphError(f"splitjoin: join must be 'roundrobin'; got {self.join!r}.")
        for label in ("split_weights", "join_weights"):
            w = getattr(self, label)
            if w is not None and (len(w) != len(self.branches) or
                                  any(not isinstance(v, int) or v < 1 for v in w)):
                raise GraphError(f"splitjoin: {label} must be {len(self.branches)} positive "
                                 f"integers, one per branch; got {w!r}.")
        if self.split_weights is not None and self.split != "roundrobin":
            raise GraphError("splitjoin: split_weights only apply to split='roundrobin'.")
        for b in self.branches:
            if b.source is not None:
                raise GraphError("splitjoin: a branch cannot have its own source.")

    def __rshift__(self, other: Any) -> Pipeline:
        return Pipeline(None, (self,)) >> other

    def __rrshift__(self, other: Any) -> Pipeline:
        return as_pipeline(other) >> self


def splitjoin(*branches: Any, split: str = "duplicate", join: str = "roundrobin",
              split_weights: tuple[int, ...] | None = None,
              join_weights: tuple[int, ...] | None = None) -> SplitJoin:
    """Make a split-join of branches (operators, functions or operator chains)."""
    return SplitJoin(tuple(as_pipeline(b) for b in branches), split, join,
                     None if split_weights is None else tuple(split_weights),
                     None if join_weights is None else tuple(join_weights))


@dataclass(frozen=True)
class Stage:
    """One occurrence of an operator in a program, under its unique stage name."""

    name: str
    op: Operator


@dataclass(frozen=True, eq=False)
class Pipeline:
    """A program: an optional source followed by operators and split-joins (frozen data)."""

    source: Source | None
    elements: tuple[Operator | SplitJoin, ...] = field(default=())

    def __rshift__(self, other: Any) -> Pipeline:
        if isinstance(other, Source):
            raise GraphError("a source can only start a pipeline: write src >> op, not "
                             "op >> src.")
        if isinstance(other, Pipeline):
            if other.source is not None:
                raise GraphError("cannot append a pipeline that has its own source.")
            return Pipeline(self.source, self.elements + other.elements)
        if isinstance(other, SplitJoin):
            return Pipeline(self.source, self.elements + (other,))
        return Pipeline(self.source, self.elements + (as_operator(other),))

    def __rrshift__(self, other: Any) -> Pipeline:
        return as_pipeline(other) >> self

    # --- stage names: unique per occurrence ----------------------------------------------
    def walk(self) -> Iterator[Stage]:
        """Every operator occurrence in order (branches depth first) with its stage name."""
        seen: dict[str, int] = {}

        def visit(elements: tuple) -> Iterator[Stage]:
            for el in elements:
                if isinstance(el, SplitJoin):
                    for b in el.branches:
                        yield from visit(b.elements)
                else:
                    n = seen.get(el.name, 0) + 1
                    seen[el.name] = n
                    yield Stage(el.name if n == 1 else f"{el.name}#{n}", el)

        return visit(self.elements)

    @functools.cached_property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.walk())

    def stage(self, name: str) -> Stage:
        for s in self.walk():
            if s.name == name:
                return s
        raise GraphError(f"no stage named {name!r}; stages are: {', '.join(self.stage_names)}.")

    def match_stages(self, pattern: str) -> list[str]:
        """Stage names a hint refers to: an operator's name means all its occurrences
        (``"scale"``: ``scale`` and ``scale#2``); ``"scale#k"`` the k-th one alone
        (``"scale#1"`` is the stage named ``scale``).

        >>> import numpy as np, workbench as wb
        >>> s = wb.operator(lambda x: x, name="s")
        >>> p = wb.sources.array(np.zeros(4)) >> s >> s
        >>> p.match_stages("s"), p.match_stages("s#1"), p.match_stages("s#2")
        (['s', 's#2'], ['s'], ['s#2'])
        """
        found = [s.name for s in self.walk() if s.op.name == pattern]
        if not found:
            found = [n for n in self.stage_names if n == pattern]
        if not found and pattern.endswith("#1"):
            found = [n for n in self.stage_names if n == pattern[:-2]]
        if not found:
            raise GraphError(f"no stage named {pattern!r}; stages are: "
                             f"{', '.join(self.stage_names) or '(none)'} (an operator's "
                             "name means all its occurrences; name#k the k-th one).")
        return found

    # --- validation and running ----------------------------------------------------------
    def validate(self) -> Solution:
        """Solve the SDF balance equations; return the repetition vector.

        Raises :class:`~workbench.errors.RateError` naming the operators whose rates
        disagree.
        """
        return solve(self)

    def run(self, batches: int | None = None, duration: float | None = None, *,
            engine: str | None = None, placement: dict | None = None,
            parallelism: dict | None = None, sink: Any = "collect", widget: bool = False,
            **options: Any) -> Any:
        """Run the program and return a Run (``run.wait()``, ``run.output``, ``run.metrics``).

        ``engine``: ``"dask"`` (the default: the cluster of :func:`workbench.cluster`) or
        ``"local"`` (this process; the reference semantics). ``$WORKBENCH_ENGINE`` changes
        the default. ``widget=True`` in a Jupyter kernel shows the live dashboard
        (``run.dashboard()``, see :mod:`workbench.observe.widgets`) and returns at once;
        elsewhere it does nothing.
        """
        import os

        name = engine or os.environ.get("WORKBENCH_ENGINE") or "dask"
        engines = backends.installed("engine")
        if engines and name not in engines:
            raise GraphError(f"engine must be one of {', '.join(engines)}; got {name!r}.")
        run = backends.backend("engine", name)(
            self, batches=batches, duration=duration, placement=placement or {},
            parallelism=parallelism or {}, sink=sink, **options)
        if widget:      # in a Jupyter kernel, the live dashboard (built before the run starts)
            backends.backend("view", "show-run")(run)
        return run.start()

    def __repr__(self) -> str:
        parts = [] if self.source is None else [repr(self.source)]

        def show(el: Operator | SplitJoin) -> str:
            if isinstance(el, SplitJoin):
                inner = " | ".join(" >> ".join(show(e) for e in b.elements) for b in el.branches)
                return f"splitjoin({el.split}: {inner})"
            return el.name

        parts += [show(e) for e in self.elements]
        return "<Pipeline " + " >> ".join(parts) + ">"
