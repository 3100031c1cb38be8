"""Checkpoints: asynchronous barrier snapshots at epoch boundaries, and what a recovery
reads back.

This is Flink's asynchronous barrier snapshot (Chandy-Lamport for dataflows) with the
sequence number as the barrier. Checkpoint ``k``'s barrier is batch ``B_k = k * every``.
Every inbox hands batches over in sequence order, so an instance has seen the barrier on
all of its inputs exactly when it takes its first batch at or past ``B_k``: it then copies
what it holds (its cut: operator state, key groups, peek windows, carries, split-join
records, a parallel peeking operator's history at its sender; at a collect sink, the
batches collected since its last snapshot) and queues the copy for this worker's writer
thread. The data path goes on at once; the disk is written behind it. Checkpoint ``k`` is
complete when every instance of the generation has written it; the client keeps the last
two (and every sink log: they are the output).

A checkpoint is a set of files under the run's location (a directory, or any fsspec URL
every worker and the client can reach)::

    {location}/state-{k:06d}/g{gen}-u{unit}-{index}.pkl   cut, records read, records out
    {location}/sink/g{gen}-u{unit}-{index}-{k:06d}.pkl    batches collected before B_k
"""

from __future__ import annotations

import os
import pickle
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ...errors import GraphError


def default_location() -> str:
    """``$WORKBENCH_CHECKPOINTS``, or ``<user cache dir>/workbench/checkpoints``."""
    env = os.environ.get("WORKBENCH_CHECKPOINTS")
    if env:
        return env
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("workbench"), "checkpoints")


def location(checkpoint: Any, run_id: str) -> str | None:
    """Where a run's checkpoints go: ``checkpoint=True`` (the default location), a path or
    URL (this run's folder inside it), or nothing (``False``/``None``)."""
    if checkpoint is None or checkpoint is False:
        return None
    if checkpoint is True:
        base = default_location()
    elif isinstance(checkpoint, (str, os.PathLike)):
        base = os.fspath(checkpoint)
    else:
        raise GraphError(f"checkpoint must be True, a directory or an fsspec URL; got "
                         f"{checkpoint!r}.\nFix: prog.run(checkpoint=True) or "
                         "prog.run(checkpoint='/shared/disk/checkpoints').")
    return base.rstrip("/") + "/" + run_id


def state_path(loc: str, k: int, gen: int, unit: int, index: int) -> str:
    return f"{loc}/state-{k:06d}/g{gen}-u{unit}-{index}.pkl"


def sink_path(loc: str, k: int, gen: int, unit: int, index: int) -> str:
    return f"{loc}/sink/g{gen}-u{unit}-{index}-{k:06d}.pkl"


def _fs(url: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    return url_to_fs(url)


def write(url: str, obj: Any) -> int:
    """Pickle ``obj`` to ``url`` (its folder made first); returns the bytes written."""
    fs, path = _fs(url)
    payload = pickle.dumps(obj, protocol=5)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as f:
        f.write(payload)
    return len(payload)


def read(url: str) -> Any:
    fs, path = _fs(url)
    with fs.open(path, "rb") as f:
        return pickle.loads(f.read())


def remove(url: str) -> None:
    fs, path = _fs(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)


# --- worker side: the writer thread ------------------------------------------------------

@dataclass
class Snapshot:
    """One instance's copy at barrier ``B_k``: what it holds, what it has counted, and (at
    a collect sink) the batches it collected since its last snapshot."""

    cut: Any
    source_records: int = 0
    sink_records: int = 0
    sink: dict = field(default_factory=dict)


class Writer:
    """This worker process's checkpoint writer: one thread, fed through a queue, so that
    an instance's data path never waits for the disk. Each write is reported in the run
    state's ``checkpoints`` list (polled by the client with the metrics)."""

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.pending: dict[int, int] = {}        # id(run state) -> jobs not yet done
        self.idle = threading.Condition()
        threading.Thread(target=self._loop, daemon=True, name="wb-checkpoint").start()

    def put(self, rs: Any, loc: str, name: str, gen: int, unit: int, index: int, k: int,
            snap: Snapshot) -> None:
        with self.idle:
            self.pending[id(rs)] = self.pending.get(id(rs), 0) + 1
        self.jobs.put((rs, loc, name, gen, unit, index, k, snap, time.time()))

    def flush(self, rs: Any, timeout: float = 10.0) -> None:
        """Wait until no snapshot of run state ``rs`` is queued or being written (a run
        that ended, or stopped for a recovery, writes nothing after it)."""
        with self.idle:
            self.idle.wait_for(lambda: not self.pending.get(id(rs)), timeout)

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                self._write(*job)
            finally:
                with self.idle:
                    key = id(job[0])
                    self.pending[key] -= 1
                    if not self.pending[key]:
                        del self.pending[key]
                    self.idle.notify_all()

    def _write(self, rs: Any, loc: str, name: str, gen: int, unit: int, index: int, k: int,
               snap: Snapshot, queued: float) -> None:
        if rs.abort.is_set():
            return                      # the run ended or stopped: nothing more to keep
        t0 = time.time()
        error = ""
        size = 0
        try:
            if snap.sink:
                size += write(sink_path(loc, k, gen, unit, index), snap.sink)
            size += write(state_path(loc, k, gen, unit, index),
                          (snap.cut, snap.source_records, snap.sink_records))
        except Exception as exc:  # noqa: BLE001 - reported; the checkpoint stays incomplete
            error = f"{type(exc).__name__}: {exc}"
        with rs.lock:
            rs.checkpoints.append((time.time(), name, gen, k, size, time.time() - t0,
                                   t0 - queued, error))


_WRITER: Writer | None = None
_WRITER_LOCK = threading.Lock()


def writer() -> Writer:
    global _WRITER
    with _WRITER_LOCK:
        if _WRITER is None:
            _WRITER = Writer()
        return _WRITER


# --- client side: which checkpoints are complete, and reading them back -------------------

class Checkpoints:
    """A run's checkpoints as the client sees them: the notices of written snapshots,
    which checkpoints are complete, the last complete one, and the files to read back."""

    def __init__(self, loc: str, every: int, remove_at_end: bool) -> None:
        self.loc, self.every, self.remove_at_end = loc, every, remove_at_end
        self.seen: dict[tuple[int, int], set[str]] = {}     # (gen, k) -> instances written
        self.bytes: dict[tuple[int, int], int] = {}
        self.errors: list[str] = []
        self.complete: list[dict] = []                      # in the order they completed
        self.write_s: list[float] = []

    @property
    def last(self) -> dict | None:
        return self.complete[-1] if self.complete else None

    def absorb(self, notices: list[tuple], names: dict[int, set[str]]) -> list[dict]:
        """Take writers' notices; ``names``: generation -> its instances' names. Returns
        the checkpoints this completed."""
        done = []
        for t, name, gen, k, size, secs, _, error in notices:
            if error:
                self.errors.append(f"{name}, checkpoint {k}: {error}")
                continue
            self.seen.setdefault((gen, k), set()).add(name)
            self.bytes[(gen, k)] = self.bytes.get((gen, k), 0) + size
            self.write_s.append(secs)
            if (self.seen[(gen, k)] >= names.get(gen, {None})
                    and not any(c["gen"] == gen and c["epoch"] == k for c in self.complete)
                    and (self.last is None or (gen, k) > (self.last["gen"],
                                                          self.last["epoch"]))):
                row = {"epoch": k, "batch": k * self.every, "gen": gen, "at": t,
                       "bytes": self.bytes[(gen, k)]}
                self.complete.append(row)
                done.append(row)
        if done:
            self._retire()
        return done

    def _retire(self) -> None:
        """Keep the state of the last two complete checkpoints (every sink log stays)."""
        keep = {c["epoch"] for c in self.complete[-2:]}
        newest = self.complete[-1]["epoch"]
        for c in self.complete[:-2]:
            k = c["epoch"]
            if k not in keep and k < newest and not c.get("removed"):
                try:
                    remove(f"{self.loc}/state-{k:06d}")
                except Exception:  # noqa: BLE001 - an old checkpoint left behind is harmless
                    pass
                c["removed"] = True

    def restore(self, gen: int, k: int, instances: list[tuple[int, int]]) -> dict:
        """Checkpoint ``k`` of generation ``gen``: (unit, index) -> (cut, records read,
        records out)."""
        return {d: read(state_path(self.loc, k, gen, *d)) for d in instances}

    def sink_logs(self, gen: int, unit: int, index: int, upto: int) -> dict:
        """Batches instance ``(unit, index)`` of generation ``gen`` collected before
        checkpoint ``upto``'s barrier, from its sink logs: seq -> part."""
        fs, path = _fs(f"{self.loc}/sink")
        out: dict = {}
        if not fs.exists(path):
            return out
        prefix = f"g{gen}-u{unit}-{index}-"
        for f in sorted(fs.ls(path, detail=False)):
            base = f.rsplit("/", 1)[-1]
            if base.startswith(prefix) and int(base[len(prefix):-4]) <= upto:
                with fs.open(f, "rb") as fh:
                    out.update(pickle.loads(fh.read()))
        return out

    def close(self, finished: bool) -> None:
        if finished and self.remove_at_end:
            try:
                remove(self.loc)
            except Exception:  # noqa: BLE001 - a cache folder left behind is harmless
                pass
