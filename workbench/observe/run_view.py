"""What the live dashboard shows, decided from a run's data (pure: numpy, no widgets).

A dashboard reads what a run already keeps: ``run.plan`` (where each stage runs), the
metric rows (``run.metrics``: one row per operator and instance every sample, see
:mod:`workbench.runtime.metrics`), the channel rows (``run.channels``) and the events
(``run.events``). This module turns them into plain values: a :class:`Layout` of the
program (units left to right, their instances, routing and fused segments), binned series
per stage (instances summed, or one per instance), the summary numbers and the queue
depths; :class:`Tracker` and :class:`EventLog` keep what a live view needs between
updates, fed with new rows only. :mod:`workbench.observe.html` renders the values as HTML
and :mod:`workbench.observe.widgets` puts them into widgets; nothing here touches the
engine's hot path.

Examples
--------
>>> import pandas as pd
>>> rows = [(0.2, "scale", "scale", 0, "w1", 100, 100, 500.0, 2, 1.0, 0),
...         (0.3, "scale", "scale", 1, "w2", 300, 300, 1000.0, 2, 3.0, 0),
...         (0.7, "scale", "scale", 0, "w1", 200, 200, 400.0, 4, 2.0, 0)]
>>> s = binned(pd.DataFrame(rows, columns=COLUMNS), ("scale",), bin_s=0.5)
>>> s[("scale", "all")]
Series(t=[0.5, 1.0], records_per_s=[800.0, 400.0])
>>> s[("scale", "all")].latency_ms.tolist()         # batch-weighted over the instances
[2.0, 2.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model.fusion import plan_segments, segments
from ..placement import Unit
from ..runtime.metrics import CHANNEL_COLUMNS, COLUMNS, edge_name

LIVE_SLACK_S = 1.0      # a series silent for longer than this no longer holds back the bins


@dataclass(frozen=True)
class Layout:
    """The program as the dashboard draws it: units (:class:`~workbench.placement.Unit`)
    from source to sink, the workers' kinds, channel capacity and why stages went where."""

    engine: str
    units: tuple[Unit, ...]
    resources: Mapping[str, str] = field(default_factory=dict)   # worker -> "compute", ...
    credits: int | None = None          # channel capacity (batches in flight per edge)
    source: str = "source"              # how the source is described
    reasons: Mapping[str, str] = field(default_factory=dict)     # stage -> why it is there

    @property
    def stages(self) -> tuple[str, ...]:
        """The chart's stages: every operator, in program order."""
        return tuple(s for u in self.units for s in u.stages)

    def has_inbox(self, u: Unit) -> bool:
        """Batches reach ``u`` over a channel (every unit of the Dask engine but the
        first)."""
        return self.engine != "local" and u.index > 0

    def unit_reasons(self, u: Unit) -> tuple[str, ...]:
        """``"stage: why it went there"`` for each of ``u``'s stages."""
        return tuple(f"{s}: {self.reasons[s]}" for s in u.stages if s in self.reasons)

    def edge(self, i: int) -> str | None:
        """Metric name of the channel from unit ``i`` to the next one."""
        if i + 1 >= len(self.units):
            return None
        return edge_name(self.units[i].name, self.units[i + 1].name)

    source_stage = "source"       # the pseudo-stage whose records were read

def layout(plan: Any, engine: str = "dask", workers: Mapping[str, Mapping] | None = None,
           credits: int | None = None, source: str = "source") -> Layout:
    """A :class:`Layout` from a placement ``Plan`` (Dask engine) or from the fusion plan
    of the local engine (a tuple of nodes, all in this process)."""
    resources = {a: ", ".join(sorted(k for k, v in (r or {}).items() if v)) or "worker"
                 for a, r in (workers or {}).items()}
    if isinstance(plan, tuple):                 # local engine: one thread, one unit
        stages = tuple(st.name for seg in segments(plan) for st in seg.stages)
        return Layout(engine, (Unit(0, stages, ("local",), "direct", plan),),
                      {"local": "this process"}, credits, source)
    return Layout(engine, tuple(plan.units), resources, credits, source, dict(plan.reasons))


def layout_of(run: Any) -> Layout:
    """The layout of a running (or finished) run of either engine."""
    plan = getattr(run, "plan", None)
    if plan is None:
        plan = plan_segments(run.pipeline)
    session = getattr(run, "session", None)
    workers = getattr(session, "workers", None) if session is not None else None
    try:
        workers = dict(workers or {})
    except Exception:  # noqa: BLE001 - a closed session: draw without resources
        workers = {}
    return layout(plan, run.engine, workers, getattr(run, "credits", None),
                  repr(run.pipeline.source))


# --- rows -----------------------------------------------------------------------------------

class Rows:
    """Metric rows as numpy columns (the few the dashboard reads).

    Built from ``run.metrics`` (a DataFrame) or from raw row tuples in its column order.
    """

    __slots__ = ("time", "stage", "instance", "worker", "records", "latency_ms", "batches",
                 "queue")
    _AT = tuple(COLUMNS.index(c) for c in __slots__)

    def __init__(self, *columns: Any) -> None:       # in the order of __slots__
        import numpy as np

        for name, col in zip(self.__slots__, columns, strict=True):
            kind = object if name in ("stage", "worker") else float
            setattr(self, name, np.asarray(col, dtype=kind))

    @classmethod
    def of(cls, data: Any) -> Rows:
        if isinstance(data, Rows):
            return data
        if hasattr(data, "columns"):            # a DataFrame with the metrics columns
            return cls(*(data[c].to_numpy() for c in cls.__slots__))
        cols = list(zip(*data)) if len(data) else [()] * len(COLUMNS)
        return cls(*(cols[i] for i in cls._AT))

    def __len__(self) -> int:
        return len(self.time)

    def where(self, mask: Any) -> Rows:
        return Rows(*(getattr(self, name)[mask] for name in self.__slots__))

    def named(self, names: Any) -> Any:
        """Boolean mask of the rows whose stage is in ``names``."""
        import numpy as np

        names = set(names)
        return np.fromiter((s in names for s in self.stage), bool, len(self.stage))


class Series:
    """One trace: bin ends ``t`` (seconds since the start), records/s, mean batch latency."""

    __slots__ = ("t", "records_per_s", "latency_ms")

    def __init__(self, t: Any, records_per_s: Any, latency_ms: Any) -> None:
        self.t, self.records_per_s, self.latency_ms = t, records_per_s, latency_ms

    def __repr__(self) -> str:
        return f"Series(t={self.t.tolist()}, records_per_s={self.records_per_s.tolist()})"


# --- series ---------------------------------------------------------------------------------

def horizon(rows: Any, live: bool) -> float:
    """Time up to which every active series has reported (bins after it are incomplete).

    A finished run is complete everywhere; while running, series silent for more than
    ``LIVE_SLACK_S`` (an instance that ended) do not hold the others back.
    """
    rows = Rows.of(rows)
    if not len(rows):
        return 0.0
    if not live:
        return math.inf
    recent = rows.where(rows.time >= rows.time.max() - LIVE_SLACK_S)
    last: dict[tuple, float] = {}
    for t, s, i in zip(recent.time.tolist(), recent.stage, recent.instance.tolist()):
        if t > last.get((s, i), -1.0):
            last[(s, i)] = t
    return min(last.values())


def binned(rows: Any, stages: tuple[str, ...], bin_s: float = 0.5, *,
           per_instance: bool = False, since: float = -math.inf,
           until: float = math.inf) -> dict[tuple[str, str], Series]:
    """Records/s and mean batch latency per stage (and instance) in bins of ``bin_s``.

    Instances are summed (their records add up; latency is the batch-weighted mean), so a
    stage's throughput does not depend on how the workers' sampling clocks line up. Keys
    are ``(stage, "all")`` when summed, else ``(stage, "#i")`` per instance, in the order
    of ``stages``. Only bins after ``since`` that end by ``until`` are kept (see
    :func:`horizon`).
    """
    import numpy as np

    rows = Rows.of(rows)
    d = rows.where(rows.named(stages) & (rows.time > since)) if len(rows) else rows
    b = np.floor(d.time / bin_s).astype(np.int64)
    keep = (b + 1) * bin_s <= until + 1e-9
    d, b = d.where(keep), b[keep]
    if not len(d):
        return {}
    workers = (np.array([f"#{int(i)}" for i in d.instance], dtype=object) if per_instance
               else np.full(len(d), "all", dtype=object))
    order = {s: i for i, s in enumerate(stages)}
    keys = sorted(set(zip(d.stage, workers)), key=lambda k: (order[k[0]], k[1]))
    index = {k: i for i, k in enumerate(keys)}
    g = np.fromiter((index[k] for k in zip(d.stage, workers)), np.int64, len(d))
    span = int(b.max() - b.min()) + 1
    code = g * span + (b - b.min())
    uniq, inv = np.unique(code, return_inverse=True)
    recs = np.bincount(inv, weights=d.records)
    nb = np.bincount(inv, weights=d.batches)
    busy = np.bincount(inv, weights=np.nan_to_num(d.latency_ms) * d.batches)
    with np.errstate(invalid="ignore", divide="ignore"):
        lat = np.where(nb > 0, busy / np.where(nb > 0, nb, 1), np.nan)
    grp, ends = uniq // span, (uniq % span + b.min() + 1) * bin_s
    out = {}
    for i, k in enumerate(keys):
        m = grp == i
        out[k] = Series(ends[m], recs[m] / bin_s, lat[m])
    return out


def bin_for(span_s: float, base: float = 0.5, points: int = 1000) -> float:
    """A bin size that keeps a span of ``span_s`` seconds under ``points`` points.

    >>> bin_for(30.0), bin_for(3600.0)
    (0.5, 4.0)
    """
    b = base
    while span_s / b > points:
        b *= 2
    return b


# --- summary, queues ------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    status: str
    records: int            # read from the source so far
    now_per_s: float        # over the last complete second
    avg_per_s: float        # records / elapsed
    out: int                # records that reached the sink
    elapsed: float
    streaming_per_s: float | None = None   # once finished: start-up excluded


def totals(rows: Any, lay: Layout) -> tuple[int, int]:
    """(records read from the source, records into the sink) over ``rows``."""
    rows = Rows.of(rows)
    src = int(rows.records[rows.stage == "source"].sum()) if len(rows) else 0
    out = int(rows.records[rows.stage == "sink"].sum()) if len(rows) else 0
    return src, out


def summarize(rows: Any, lay: Layout, *, status: str, elapsed: float, records: int,
              out: int, live: bool = True, streaming_per_s: float | None = None,
              now_s: float = 1.0) -> Summary:
    """The numbers of the summary line: ``records`` and ``out`` are the run's totals
    (see :func:`totals`); the rate now is read from the last complete ``now_s`` seconds
    of ``rows`` (into the first stage, or routed out of the source unit)."""
    rows = Rows.of(rows)
    now = 0.0
    st = lay.source_stage
    if live and len(rows):
        end = min(horizon(rows, live), float(rows.time.max()))
        m = (rows.stage == st) & (rows.time > end - now_s) & (rows.time <= end)
        now = float(rows.records[m].sum()) / now_s
    return Summary(status, int(records), now, records / max(elapsed, 1e-9), int(out),
                   elapsed, streaming_per_s)


@dataclass(frozen=True)
class Queues:
    """Peak depths over the last second: batches waiting in each instance's inbox
    (``inbox[unit index][instance]``) and in flight on each channel (``flight[name]``)."""

    inbox: dict[int, dict[int, int]]
    flight: dict[str, int]


def queues(rows: Any, chans: list[tuple], lay: Layout, recent_s: float = 1.0) -> Queues:
    """The :class:`Queues` from metric rows and channel rows (``run.channels`` tuples)."""
    rows = Rows.of(rows)
    inbox: dict[int, dict[int, int]] = {u.index: {} for u in lay.units if lay.has_inbox(u)}
    first = {u.stages[0]: u.index for u in lay.units if lay.has_inbox(u) and u.stages}
    if len(rows):
        d = rows.where(rows.named(first) & (rows.time > rows.time.max() - recent_s))
        for s, i, q in zip(d.stage, d.instance.tolist(), d.queue.tolist()):
            box = inbox[first[s]]
            box[int(i)] = max(box.get(int(i), 0), int(q))
    flight: dict[str, int] = {}
    at_t, at_name, at_peak = (CHANNEL_COLUMNS.index(c) for c in ("time", "channel",
                                                                  "in_flight_peak"))
    t_max = max((c[at_t] for c in chans), default=0.0)
    for c in chans:
        if c[at_t] > t_max - recent_s:
            flight[c[at_name]] = max(flight.get(c[at_name], 0), int(c[at_peak]))
    return Queues(inbox, flight)


# --- incremental reading (what a live view keeps between updates) ---------------------------

class Tracker:
    """The recent metric and channel rows of a run and its running totals, fed with new
    rows only.

    ``feed`` costs time in proportion to the new rows, so a live view stays as cheap an
    hour into a run as in its first second (``run.metrics`` rebuilds the whole history).
    """

    _REC = COLUMNS.index("records")

    def __init__(self, lay: Layout, keep_s: float) -> None:
        self.lay, self.keep_s = lay, keep_s
        self.read = 0               # metric rows fed so far (the offset of the next read)
        self.read_channels = 0      # channel rows fed so far
        self.records = self.out = 0
        self.t_max = 0.0
        self._buf: list[tuple] = []
        self._chans: list[tuple] = []
        self._rows: Rows | None = None

    def feed(self, new: list[tuple], channels: list[tuple] = ()) -> int:
        k = self._REC
        for r in new:
            if r[1] == "source":
                self.records += r[k]
            elif r[1] == "sink":
                self.out += r[k]
            if r[0] > self.t_max:
                self.t_max = r[0]
        self.read_channels += len(channels)
        self._chans.extend(channels)
        if not new:
            return len(channels)
        self.read += len(new)
        self._buf.extend(new)
        self._rows = None
        cut = self.t_max - self.keep_s
        if self._buf and self._buf[0][0] < cut - 10.0:     # trim now and then, not always
            self._buf = [r for r in self._buf if r[0] >= cut]
            self._chans = [c for c in self._chans if c[0] >= cut]
        return len(new) + len(channels)

    def rows(self) -> Rows:
        if self._rows is None:
            self._rows = Rows.of(self._buf)
        return self._rows

    def channels(self) -> list[tuple]:
        return self._chans


FOLD = ("epoch", "checkpoint")


class EventLog:
    """Events folded for display, fed with new event tuples ``(time, kind, stage,
    message)``; epoch and checkpoint completions (several a second) fold into the latest
    of their kind while nothing else happens in between.

    >>> log = EventLog()
    >>> log.feed([(0.1, "started", "", "go"), (0.5, "epoch", "", "epoch 0 done"),
    ...           (0.6, "checkpoint", "", "checkpoint 1 complete"),
    ...           (0.9, "epoch", "", "epoch 1 done")])
    4
    >>> [r["line"] for r in log.latest()]      # doctest: +NORMALIZE_WHITESPACE
    ['epoch 1 done (2 epochs since 0.50 s)', 'checkpoint 1 complete', 'go']
    """

    def __init__(self, keep: int = 200) -> None:
        self.read = 0
        self.keep = keep
        self._rows: list[dict[str, Any]] = []

    def feed(self, new: list[tuple]) -> int:
        rows = self._rows
        for t, kind, stage, msg in new:
            text = str(msg)
            row = {"time": float(t), "kind": str(kind), "stage": str(stage or ""),
                   "line": text.splitlines()[0] if text else "", "text": text,
                   "since": float(t)}
            j = self._foldable(kind)
            if j is not None:           # several a second: one line per kind, the latest
                row["since"], row["count"] = rows[j]["since"], rows[j].get("count", 1) + 1
                row["line"] += f" ({row['count']} {kind}s since {row['since']:.2f} s)"
                del rows[j]
            rows.append(row)
        if len(rows) > 2 * self.keep:
            del rows[:-self.keep]
        self.read += len(new)
        return len(new)

    def _foldable(self, kind: str) -> int | None:
        """The row a new ``kind`` event folds into: the last one of that kind, when only
        epoch and checkpoint rows came after it."""
        if kind not in FOLD:
            return None
        for j in range(len(self._rows) - 1, -1, -1):
            k = self._rows[j]["kind"]
            if k == kind:
                return j
            if k not in FOLD:
                return None
        return None

    def latest(self, limit: int = 12) -> list[dict[str, Any]]:
        """The newest ``limit`` events, newest first."""
        return self._rows[-limit:][::-1]
