"""Fused segments: one compiled function per chain of operators.

A segment's module calls each operator's own artifact (``__wb_store__.jitted``) and checks
each operator's output length against its declared rates; LLVM inlines the calls. The
module text names its operators' artifacts, so its hash changes when any of them does.
Keyed segments (one keyed operator) regroup the batch by key group, call the operator
once per group with that group's state, and put each output record back in its input
record's place, so a keyed operator keeps record order.

Calling a :class:`CompiledSegment` raises workbench errors only: a
:class:`~workbench.errors.CompileError` on the first batch if numba cannot type an
operator, an :class:`~workbench.errors.OperatorError` naming the operator and the batch
sequence number if one fails or breaks its rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CompileError, OperatorError
from ..model.fusion import Segment
from ..model.loops import loop_groups
from . import diagnose
from .artifacts import ORIGINS, ArtifactStore, default_store, jit_enabled, toolchain
from .kernels import group_order_np
from .loops import loop_fusion, loop_module
from .segment_text import _RATE, segment_text
from .source import Origin, operator_module


def new_state(op: Any) -> Any:
    """A fresh copy of an operator's state (stacked per key group when keyed)."""
    if op.state is None:
        return None

    def one(a: np.ndarray) -> np.ndarray:
        if op.key is None:
            return np.array(a, copy=True)
        return np.ascontiguousarray(np.broadcast_to(a, (op.key_groups,) + a.shape)).copy()

    return tuple(one(a) for a in op.state) if isinstance(op.state, tuple) else one(op.state)


def keys_of(op: Any, x: np.ndarray, name: str, seq: int | None) -> np.ndarray:
    """The integer keys of a batch for a keyed operator."""
    if isinstance(op.key, str):
        if x.dtype.names is None or op.key not in x.dtype.names:
            raise OperatorError(
                f"operator '{name}': key={op.key!r} names a record field, but batch {seq} "
                f"has {'fields ' + ', '.join(x.dtype.names) if x.dtype.names else 'no fields'}"
                f" (dtype {x.dtype}).\nFix: use a structured source such as "
                "wb.sources.dataframe(df, [...columns]), or pass key=lambda batch: ....",
                operator=name, seq=seq)
        keys = x[op.key]
    else:
        keys = np.asarray(op.key(x))
    if keys.dtype.kind not in "iub" or keys.shape[:1] != x.shape[:1]:
        raise OperatorError(
            f"operator '{name}': keys must be one integer per record; batch {seq} gave "
            f"{keys.dtype} with shape {keys.shape} for {x.shape[0]} records.\nFix: key on an "
            "integer field (hash strings to integers upstream).", operator=name, seq=seq)
    return np.ascontiguousarray(keys)


@dataclass(frozen=True)
class Artifacts:
    """What a process needs to run a compiled segment without the operators' source:
    artifact names, plus the line maps that explain compile errors."""

    entries: tuple[tuple[str, str], ...]     # (operator module, function) per operator
    module: str                              # the segment module
    calls: dict[int, str]
    origins: dict[str, list[Origin]]
    loops: tuple[tuple[int, int, str], ...] = ()   # (start, end, module) per fused loop

    @property
    def names(self) -> list[str]:
        return [m for m, _ in self.entries] + [m for _, _, m in self.loops] + [self.module]


class CompiledSegment:
    """A segment ready to run: ``seg(batch, states, seq) -> batch``.

    Built from the operators' source (writing artifacts), or from :class:`Artifacts` made
    elsewhere (a worker loading what the client compiled).
    """

    def __init__(self, seg: Segment, store: ArtifactStore | None = None,
                 jit: bool | None = None, artifacts: Artifacts | None = None) -> None:
        self.segment = seg
        self.keyed = seg.keyed                   # read per batch: keep it an attribute
        self.names = [s.name for s in seg.stages]
        self.ops = seg.ops
        self.jit = (seg.jit and jit_enabled()) if jit is None else jit
        self.store = store or default_store()
        self.module = ""
        self.art: Artifacts | None = None
        self._fused: Any = None
        self.loops: tuple[str, ...] = ()            # fused loops, as ``a+b+c``
        self._fused_ok: dict[np.dtype, bool] = {}   # input dtype -> loops checked, agree
        self.notes: list[str] = []
        if self.jit:
            if artifacts is None:
                entries = []
                for op in self.ops:
                    mod = self.store.put(operator_module(op, toolchain()))
                    entries.append((mod, op.func.__name__))
                loops = () if seg.keyed or not loop_fusion() else tuple(
                    (a, b, self.store.put(loop_module(list(self.ops[a:b]), self.names[a:b],
                                                      toolchain())))
                    for a, b in loop_groups(self.ops))
                mt, calls = segment_text(seg, entries, loops)
                module = self.store.put(mt)
                artifacts = Artifacts(tuple(entries), module, calls,
                                      {m: ORIGINS.get(m, []) for m, _ in entries}, loops)
            for m, origins in artifacts.origins.items():
                ORIGINS.setdefault(m, origins)
            self.art = artifacts
            self.entries = artifacts.entries
            self._calls = artifacts.calls
            self.module = artifacts.module
            self._fn = self.store.jitted(self.module, "segment")
            if artifacts.loops:
                self._fused = self.store.jitted(self.module, "fused")
                self.loops = tuple("+".join(self.names[a:b]) for a, b, _ in artifacts.loops)
        else:
            self._fn = self._python

    @property
    def artifacts(self) -> list[str]:
        return self.art.names if self.art else []

    def new_states(self) -> list:
        return [new_state(op) for op in self.ops]

    @property
    def dispatcher(self) -> Any:
        return self._fn if self.jit else None

    # --- the call ----------------------------------------------------------------------
    def __call__(self, x: np.ndarray, states: list, seq: int | None = None) -> np.ndarray:
        try:
            if self.keyed:
                keys = keys_of(self.ops[0], x, self.names[0], seq)
                return self._fn(x, keys, states[0])
            if self._fused is not None and x.ndim == 1:
                ok = self._fused_ok.get(x.dtype)
                if ok:
                    return self._fused(x, *[s for s in states if s is not None])
                if ok is None:
                    return self._first_fused(x, states)
            return self._fn(x, *[s for s in states if s is not None])
        except OperatorError:
            raise
        except ValueError as exc:
            if exc.args and exc.args[0] == _RATE:
                raise self._rate_error(exc.args, seq) from None
            raise self._failure(exc, x, states, seq) from exc
        except Exception as exc:
            if self.jit and is_numba_error(exc):
                raise diagnose.explain(exc, self.names, ORIGINS, self._calls,
                                       self.module) from exc
            raise self._failure(exc, x, states, seq) from exc

    def call_op(self, i: int, x: np.ndarray, state: Any, seq: int | None = None) -> np.ndarray:
        """Operator ``i`` of the segment alone (its own compiled function), with the
        segment's error handling: a segment fused by a reconfiguration runs its operators
        one by one until the records waiting between them are used up."""
        op = self.ops[i]
        fn = self.store.jitted(*self.entries[i]) if self.jit else op.func
        try:
            y = fn(x) if op.state is None else fn(x, state)
        except Exception as exc:
            if self.jit and is_numba_error(exc):
                raise diagnose.explain(exc, self.names, ORIGINS, self._calls,
                                       self.module) from exc
            raise OperatorError(
                f"operator '{self.names[i]}' failed on batch {seq}: {type(exc).__name__}: "
                f"{exc}\nThe run stopped; other runs and the cluster are unaffected.",
                operator=self.names[i], seq=seq, original=exc) from exc
        y = _as_batch(y, self.names[i])
        if y.shape[0] != op.outputs(x.shape[0]):
            raise self._rate_error((_RATE, i, x.shape[0], y.shape[0]), seq)
        return y

    def _first_fused(self, x: np.ndarray, states: list) -> np.ndarray:
        """The first batch of a dtype: the operators one after another (the result), and
        the fused loops on copies of the states; the loops serve the following batches
        only if they agree (output, its dtype, the states): a record's arithmetic in one
        loop must be the arrays' arithmetic, or the loops are not used."""
        copies = [_copy_state(s) for s in states]
        y = self._fn(x, *[s for s in states if s is not None])
        try:
            yf = self._fused(x, *[s for s in copies if s is not None])
            why = _disagree(y, yf) or next(
                (f"the state of '{n}' differs" for n, a, b in zip(self.names, states, copies)
                 if a is not None and _disagree(a, b)), None)
        except Exception as exc:  # noqa: BLE001 - any failure: keep the operators' calls
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self._fused_ok[x.dtype] = why is None
        if why is not None:
            self.notes.append(f"segment '{self.segment.name}': the fused loop(s) "
                              f"{', '.join(self.loops)} are not used for {x.dtype} records "
                              f"({why}); its operators run one after another")
        return y

    def _rate_error(self, args: tuple, seq: int | None) -> OperatorError:
        _, i, n_in, n_out = args
        op, name = self.ops[i], self.names[i]
        if op.history:
            return OperatorError(
                f"operator '{name}' broke its declared rates on batch {seq}: consumes="
                f"{op.consumes}, produces={op.produces}, peek={op.window} means a window "
                f"of {n_in} records is {op.fires(n_in)} firing(s) -> {op.outputs(n_in)} "
                f"records out, but it returned {n_out}.\nFix: return (len(x) - "
                f"{op.window}) // {op.consumes} + 1 firings' worth ({op.produces} each): "
                "np.convolve(x, taps, 'valid') is the FIR filter with peek=len(taps).",
                operator=name, seq=seq)
        return OperatorError(
            f"operator '{name}' broke its declared rates on batch {seq}: consumes="
            f"{op.consumes}, produces={op.produces} means {n_in} records in -> "
            f"{n_in // op.consumes * op.produces} out, but it returned {n_out}.\nFix: return "
            f"len(x) // {op.consumes} * {op.produces} records, or declare the rates it has "
            f"(@wb.operator(consumes=..., produces=...)).", operator=name, seq=seq)

    def _failure(self, exc: BaseException, x: np.ndarray, states: list,
                 seq: int | None) -> OperatorError:
        name = self._culprit(x, states) if len(self.ops) > 1 else self.names[0]
        where = (f"operator '{name}'" if name else
                 f"one of the fused operators {', '.join(self.names)}")
        return OperatorError(
            f"{where} failed on batch {seq}: {type(exc).__name__}: {exc}\n"
            "The run stopped; other runs and the cluster are unaffected. Fix the operator "
            "and run again (WORKBENCH_DISABLE_JIT=1 runs it as plain Python for debugging).",
            operator=name or self.segment.name, seq=seq, original=exc)

    def _culprit(self, x: np.ndarray, states: list) -> str | None:
        """Re-run the operators one by one on copies to name the one that fails."""
        fns = ([self.store.jitted(m, f) for m, f in self.entries] if self.jit
               else [op.func for op in self.ops])
        for fn, name, st in zip(fns, self.names, states):
            try:
                st = None if st is None else (tuple(a.copy() for a in st)
                                              if isinstance(st, tuple) else st.copy())
                x = fn(x) if st is None else fn(x, st)
            except Exception:  # noqa: BLE001 - any failure names this operator
                return name
        return None

    # --- plain Python (jit=False, or WORKBENCH_DISABLE_JIT=1) ----------------------------
    def _python(self, x: np.ndarray, *args: Any) -> np.ndarray:
        if self.keyed:
            return _python_keyed(self.ops[0], x, args[0], args[1])
        it = iter(args)
        for i, op in enumerate(self.ops):
            n = x.shape[0]
            y = op.func(x) if op.state is None else op.func(x, next(it))
            y = _as_batch(y, self.names[i])
            if y.shape[0] != op.outputs(n):
                raise ValueError(_RATE, i, n, y.shape[0])
            x = y
        return x


def _copy_state(s: Any) -> Any:
    if s is None:
        return None
    return tuple(a.copy() for a in s) if isinstance(s, tuple) else s.copy()


def _disagree(a: Any, b: Any) -> str | None:
    """Why two results (arrays, or tuples of state arrays) differ, or ``None``."""
    if isinstance(a, tuple):
        return next((w for w in map(_disagree, a, b) if w), None)
    if a.dtype != b.dtype:
        return f"records of {b.dtype} instead of {a.dtype}"
    if a.shape != b.shape:
        return f"{b.shape} records instead of {a.shape}"
    if a.dtype.kind in "fc":
        same = np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True)
    else:
        same = np.array_equal(a, b)
    return None if same else "different values"


def _as_batch(y: Any, name: str) -> np.ndarray:
    if isinstance(y, np.ndarray) and y.ndim >= 1:
        return y
    raise CompileError(f"operator '{name}' returned {type(y).__name__} {y!r:.60}; an operator "
                       "must return a numpy array (a batch of records).\nFix: return an "
                       "array, e.g. np.array([value]) for one record.")


def _python_keyed(op: Any, x: np.ndarray, keys: np.ndarray, state: Any) -> np.ndarray:
    """Each key group's records through the operator with that group's state; the output
    in input order (as the compiled segment does)."""
    order, bounds = group_order_np(keys, op.key_groups)
    xs = x[order]
    out = None
    for g in range(op.key_groups):
        a, b = bounds[g], bounds[g + 1]
        if b > a:
            st = tuple(s[g] for s in state) if isinstance(state, tuple) else state[g]
            y = _as_batch(op.func(xs[a:b], st), op.name)
            if y.shape[0] != b - a:
                raise ValueError(_RATE, 0, b - a, y.shape[0])
            if out is None:
                out = np.empty((len(x),) + y.shape[1:], y.dtype)
            out[order[a:b]] = y
    return out if out is not None else op.func(xs, state[0] if not isinstance(
        state, tuple) else tuple(s[0] for s in state))


def is_numba_error(exc: BaseException) -> bool:
    """Whether ``exc`` is numba's (a typing or lowering error, not the user's code).

    Not every numba error derives from ``NumbaError``: ``UnsupportedBytecodeError`` (an
    ``import`` or ``except ... as e`` in the body) is a plain ``Exception`` defined in
    ``numba.core.errors``; any exception class numba defines counts."""
    try:
        from numba.core.errors import NumbaError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, NumbaError) or any(
        (getattr(t, "__module__", "") or "").startswith("numba.") for t in type(exc).__mro__)
