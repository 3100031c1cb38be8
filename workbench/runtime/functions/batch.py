"""A map's calls: splitting arguments into chunks, and the handle the caller gets back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import GraphError
from .pack import combine

if TYPE_CHECKING:
    from .dispatch import Runtime


def _per_call(v: Any) -> bool:
    """Sequences give one value per call; anything else is the same for every call."""
    if isinstance(v, np.ndarray):
        return v.ndim >= 1
    return isinstance(v, (list, tuple, range))


def split_args(name: str, args: tuple) -> tuple[int, dict[int, Any], tuple]:
    """``(n, per_call, consts)``: positional arguments that are sequences (arrays, lists,
    tuples) give call ``i`` their element ``i``; others are passed to every call."""
    per_call: dict[int, Any] = {}
    consts: list[Any] = []
    lengths = {}
    for pos, v in enumerate(args):
        if _per_call(v):
            if isinstance(v, (list, tuple, range)):
                arr = np.asarray(v) if len(v) and isinstance(v[0], (int, float)) else None
                v = arr if arr is not None and arr.dtype != object else list(v)
            per_call[pos] = v
            lengths[pos] = len(v)
            consts.append(None)
        else:
            consts.append(v)
    if not per_call:
        raise GraphError(f"{name}.map: no argument gives one value per call.\nExpected: at "
                         f"least one array or list, e.g. {name}.map(np.arange(1000)); "
                         f"other arguments go to every call.\nFix: for one call use "
                         f"{name}(...).")
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"argument {p}: {n}" for p, n in lengths.items())
        raise GraphError(f"{name}.map: the per-call arguments have different lengths "
                         f"({desc}).\nFix: give every sequence one element per call.")
    return next(iter(lengths.values())), per_call, tuple(consts)


def chunk_args(per_call: dict[int, Any], idx: np.ndarray) -> tuple[dict[int, Any], Any]:
    """The per-call arguments of the calls ``idx`` (a slice when they are contiguous)."""
    lo = int(idx[0])
    contiguous = int(idx[-1]) - lo + 1 == len(idx)
    out: dict[int, Any] = {}
    for p, seq in per_call.items():
        if contiguous:
            out[p] = seq[lo:lo + len(idx)]
        elif isinstance(seq, np.ndarray):
            out[p] = seq[idx]
        else:
            out[p] = [seq[i] for i in idx.tolist()]
    return out, lo if contiguous else idx


@dataclass
class Chunk:
    idx: np.ndarray
    future: Any
    side: str
    worker: str
    stats: dict | None = None
    packed: Any = None
    resend: Any = None       # for arguments scattered to its worker: () -> a new Chunk


class Calls:
    """The calls of one ``fn.map``: ``result()`` gives their results in call order (a numpy
    array when every call returned a number, or arrays of one shape; else a list)."""

    def __init__(self, fn: Any, n: int, rt: Runtime) -> None:
        self.fn, self.n, self.rt = fn, n, rt
        self.chunks: list[Chunk] = []
        self.decisions: list[Any] = []
        self.resent = 0          # pieces sent again after their worker died with them
        self._result: Any = None

    def add(self, c: Chunk) -> Chunk:
        self.chunks.append(c)
        return c

    @property
    def futures(self) -> list:
        return [c.future for c in self.chunks]

    def done(self) -> bool:
        return all(c.future.done() for c in self.chunks)

    def wait_chunks(self, chunks: list[Chunk], timeout: float | None = None) -> None:
        if not chunks:
            return
        got = self.rt.client.gather([c.future for c in chunks],
                                    direct=self.rt.direct)  # from the workers where the
        # client reaches them, not relayed by the scheduler (results may be large)
        for c, r in zip(chunks, got):
            c.stats, c.packed = r.stats, r.packed
            self.rt.observe(r.stats)

    def wait_any(self, chunks: list[Chunk]) -> None:
        """Wait until one of ``chunks`` is done; take the measurements of all done ones."""
        from distributed import wait

        wait([c.future for c in chunks], return_when="FIRST_COMPLETED")
        self.wait_chunks([c for c in chunks if c.future.done()])

    def result(self, timeout: float | None = None) -> np.ndarray | list:
        """Wait for every chunk; a call that raised raises its ``FunctionError`` here."""
        if self._result is None:
            todo = {c.future.key: c for c in self.chunks if c.packed is None}
            if todo:    # fetch each batch of finished chunks while the others run
                from distributed import as_completed

                ac = as_completed([c.future for c in todo.values()])
                for done in ac.batches():
                    ok = []
                    for f in done:
                        c = todo.pop(f.key)
                        if c.resend is not None and _lost(f):   # its arguments died with
                            again = c.resend()                  # its worker: again
                            c.future, c.worker = again.future, again.worker
                            self.resent += 1
                            todo[c.future.key] = c
                            ac.add(c.future)
                        else:
                            ok.append(c)
                    self.wait_chunks(ok)
            self._result = combine([(c.idx, c.packed) for c in self.chunks], self.n)
        return self._result

    def wait(self) -> Calls:
        self.result()
        return self

    @property
    def placement(self) -> Any:
        """Calls per side and worker (pandas DataFrame)."""
        import pandas as pd

        rows = [{"side": c.side, "worker": c.worker, "calls": len(c.idx)} for c in self.chunks]
        return pd.DataFrame(rows).groupby(["side", "worker"], as_index=False)["calls"].sum()

    @property
    def stats(self) -> Any:
        """Each chunk's measurements (pandas DataFrame; after ``result()``)."""
        import pandas as pd

        return pd.DataFrame([c.stats for c in self.chunks if c.stats is not None])

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        sides = sorted({c.side for c in self.chunks})
        return (f"<Calls {self.fn.name}.map: {self.n} calls in {len(self.chunks)} chunk(s) "
                f"on {'+'.join(sides) or '-'}; {state}>")


def _lost(fut: Any) -> bool:
    """A chunk's future cancelled or failed because a worker it depended on left (its
    scattered arguments were there), as opposed to the calls raising."""
    if fut.status == "cancelled":
        return True
    if fut.status != "error":
        return False
    from distributed.scheduler import KilledWorker

    exc = fut.exception()
    return isinstance(exc, KilledWorker) or "lost" in str(exc).lower()
