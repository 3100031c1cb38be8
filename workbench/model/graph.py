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
from .checks import check_operator, check_splitjoin, describe
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



@dataclass(frozen=True, eq=False)
class Operator:
    """A batch-in, batch-out function with SDF rates and optional state.

    Use :func:`operator` to make one. ``consumes``/``produces`` are records per firing:
    a batch of ``n`` records must come back with ``n // consumes * produces`` records.
    ``peek`` (StreamIt's): a firing reads ``peek`` records and removes ``consumes``, so for
    ``n`` firings the function gets ``(n - 1) * consumes + peek`` records and returns
    ``n * produces``; the runtime keeps the ``peek - consumes`` records of history between
    batches. ``state`` is a template: each stage instance (and, with ``key``, each key
    group) gets its own copy, mutated in place by the function.
    """

    func: Callable
    name: str
    consumes: int = 1
    produces: int = 1
    state: Any = None
    key: str | Callable | None = None
    key_groups: int = DEFAULT_KEY_GROUPS
    jit: bool = True
    peek: int | None = None

    def __post_init__(self) -> None:
        check_operator(self)

    # --- direct calls: handy in a notebook and in tests -------------------------------
    @property
    def py_func(self) -> Callable:
        """The original Python function (as numba's ``py_func``)."""
        return self.func

    @property
    def stateful(self) -> bool:
        return self.state is not None

    @property
    def window(self) -> int:
        """Records one firing reads (``peek``, else ``consumes``)."""
        return self.peek if self.peek is not None else self.consumes

    @property
    def history(self) -> int:
        """Records a firing leaves for the next ones to read (``peek - consumes``)."""
        return self.window - self.consumes

    def fires(self, n: int) -> int:
        """Firings on ``n`` records (StreamIt: none below ``peek``, no prefill).

        >>> import workbench as wb
        >>> fir = wb.operator(lambda x: x, name="fir", peek=4)
        >>> [fir.fires(n) for n in (0, 3, 4, 5, 10)]
        [0, 0, 1, 2, 7]
        """
        return (n - self.window) // self.consumes + 1 if n >= self.window else 0

    def outputs(self, n: int) -> int:
        """Records the function must return when called on ``n`` records."""
        return self.fires(n) * self.produces

    def __call__(self, *args: Any) -> Any:
        """Call the operator on one batch (compiled unless ``jit=False``)."""
        if not self.jit:
            return self.func(*args)
        return backends.backend("compiler", "operator")(self)(*args)

    def __repr__(self) -> str:
        opts = []
        if (self.consumes, self.produces) != (1, 1):
            opts.append(f"consumes={self.consumes}, produces={self.produces}")
        if self.history:
            opts.append(f"peek={self.peek}")
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
             name: str | None = None, peek: int | None = None) -> Any:
    """Make a stream operator from a function ``f(batch) -> batch`` (or ``f(batch, state)``).

    Parameters
    ----------
    consumes, produces : int
        SDF rates: records consumed and produced per firing.
    peek : int, optional
        Records a firing reads (StreamIt's ``peek``, at least ``consumes``): a sliding
        window. For ``n`` firings the function gets ``(n - 1) * consumes + peek`` records
        and returns ``n * produces``; ``np.convolve(x, taps, "valid")`` is an FIR filter
        with ``peek=len(taps)``. A stream of ``N`` records fires ``(N - peek) // consumes
        + 1`` times (none when ``N < peek``).
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
            raise GraphError(f"@wb.operator needs a function; got {describe(f)}.")
        return Operator(f, name or f.__name__, consumes, produces, state, key, key_groups, jit,
                        peek)

    if func is not None:
        return wrap(func)
    return wrap


def as_operator(obj: Any) -> Operator:
    if isinstance(obj, Operator):
        return obj
    if callable(obj) and not isinstance(obj, (Pipeline, SplitJoin)):
        return operator(obj)
    raise GraphError(f"expected an operator, a function or a pipeline; got {describe(obj)}.\n"
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
        check_splitjoin(self)

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
        """Solve the SDF balance equations; return the repetition vector (and each stage's
        start-up: source records needed before it first fires).

        Raises :class:`~workbench.errors.RateError` naming the operators whose rates
        disagree. The result is kept: a program is frozen data.
        """
        got = self.__dict__.get("_solution")
        if got is None:
            got = solve(self)
            object.__setattr__(self, "_solution", got)
        return got

    def run(self, batches: int | None = None, duration: float | None = None, *,
            engine: str | None = None, placement: dict | None = None,
            parallelism: dict | None = None, sink: Any = "collect", widget: bool = False,
            **options: Any) -> Any:
        """Run the program and return a Run (``run.wait()``, ``run.output``, ``run.metrics``).

        ``batches`` reads that many batches of an unbounded source; ``duration`` reads for
        that many seconds, counted from when the program's instances have started (not
        from the call: start-up on a loaded cluster does not eat into it), and stops at a
        whole prefix of the source.
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
