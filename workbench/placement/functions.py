"""Placement of serverless function calls (pure): profiles in, a side and its reasons out.

A function's calls run on the **storage** side (next to the data its store references
name, on workers with the ``storage`` resource) or on the **compute** side (compute
workers; every reference is fetched over the network first). :class:`Placer` keeps a
:class:`Profile` per function from what the runtime measured (compute seconds per call on
each side, bytes read locally and remotely, bytes returned), and :meth:`Placer.decide`
estimates, for a batch of ``n`` calls, when each side would finish them:

    per_call[side] = compute_s[side] * (1 - load_then[side]) / (1 - load[side])
                     + remote_bytes[side] / rate + fetches[side] * latency + out_bytes / rate
    finish[side]   = backlog_s[side] + n * per_call[side] / slots[side]

``rate`` and ``latency`` are the measured transfer rate and per-fetch latency between
workers; ``slots`` how many calls a side runs at once; ``load`` the share of a side's CPU
taken by other work now (the storage side's CPU load), ``load_then`` what it was while
``compute_s`` was measured (a measured time already includes the load of its moment, so
only the change counts); ``backlog_s`` the work already queued there by earlier
decisions. Phases: ``explore`` (a side without measurements gets a short probe; when the
calls read store references the storage side is probed first and the compute side after
it, since a compute-side probe reads from the storage workers and would slow the storage
probe it ran beside), ``exploit`` (the side that finishes first; switching away from the
side in use needs a ``hysteresis`` margin) and periodic ``refresh`` probes of the other
side, so profiles and load are re-evaluated as they change. A side not measured yet need
not be waited for when a lower bound already rules it out: its queue (``backlog_s``), plus,
on the compute side, moving every call's references at the measured rate. If the measured
side finishes first even so, the batch goes there and the other side is probed beside it
(phase ``refresh``). Single calls arrive in bursts faster than probes return: the first
call on each unmeasured side probes it, both sides' probes at once; while one is in flight
the calls go to the measured side, or, with neither measured, are spread over the sides'
slots (:meth:`Placer._explore_call`). Every decision keeps its numbers
(:meth:`Decision.row`).

What exploring costs: a probe is at most ``probe`` calls (8) per side, and only the first
batch of a function waits for it (one task round trip, ~10-30 ms on the 2-core VM, plus the
probe's calls); refresh probes run beside a batch and are sized to ``refresh_share`` (3%)
of its estimated time. In ``workbench bench placement`` (10 rounds of 400-1500 calls, a
fresh profile per run) that is about 1% of a run, so probes stay small and rounds keep
their size; a much shorter workload would call for fewer probe calls, not more.

Examples
--------
>>> env = Env(slots={"storage": 1, "compute": 2}, rate=1e9, latency=5e-4)
>>> p = Placer()
>>> p.decide("khop", 100, env, remote_bytes=2e6).phase
'explore'
>>> p.observe({"fn": "khop", "side": "storage", "calls": 10, "compute_s": 0.0005,
...            "remote_bytes": 0, "fetches": 0, "out_bytes": 80})
True
>>> p.observe({"fn": "khop", "side": "compute", "calls": 10, "compute_s": 0.0004,
...            "remote_bytes": 2e7, "fetches": 10, "out_bytes": 80})
True
>>> d = p.decide("khop", 100, env, remote_bytes=2e6)
>>> d.phase, d.side
('exploit', 'storage')
>>> round(d.est["compute"], 4), round(d.est["storage"], 4)
(0.127, 0.005)
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

SIDES = ("storage", "compute")
PRIOR_S = 1e-3       # a call's body time assumed while nothing of it is measured yet


def other(side: str) -> str:
    return "compute" if side == "storage" else "storage"


@dataclass
class SideProfile:
    """What one function costs on one side, per call (exponentially weighted means)."""

    samples: int = 0            # measurement batches (chunks or single calls) seen
    calls: int = 0
    compute_s: float = 0.0      # running the body, excluding fetches and compiles
    fetch_s: float = 0.0        # resolving remote references (measured, for comparison)
    remote_bytes: float = 0.0
    local_bytes: float = 0.0
    fetches: float = 0.0        # remote references per call
    out_bytes: float = 0.0
    load: float = 0.0           # the side's load (other work's CPU share) while measured
    updated: float = 0.0        # time.time() of the last measurement
    at_decision: int = 0        # the function's decision count at the last measurement

    def add(self, per_call: dict[str, float], alpha: float, now: float, seq: int) -> None:
        """One measurement (the side's ``calls`` are counted by the placer, timed or not)."""
        w = 1.0 if self.samples == 0 else alpha
        for k, v in per_call.items():
            setattr(self, k, (1 - w) * getattr(self, k) + w * v)
        self.samples += 1
        self.updated = now
        self.at_decision = seq


@dataclass
class Profile:
    """A function's runtime profile: one :class:`SideProfile` per side."""

    name: str
    sides: dict[str, SideProfile] = field(
        default_factory=lambda: {s: SideProfile() for s in SIDES})
    calls: int = 0
    errors: int = 0
    decisions: int = 0
    t_first: float | None = None      # the first measured call's start
    t_last: float | None = None       # the last one's end

    def known(self, side: str) -> bool:
        return self.sides[side].samples > 0


@dataclass(frozen=True)
class Env:
    """The cluster as the runtime measured it when a decision is made."""

    slots: dict[str, int]                      # calls a side runs at once (0: side absent)
    rate: float = 1e9                          # bytes/s between workers
    latency: float = 5e-4                      # seconds per remote fetch
    load: dict[str, float] = field(default_factory=dict)      # CPU share used by others
    backlog_s: dict[str, float] = field(default_factory=dict)  # queued work, seconds
    cpu: dict[str, float] = field(default_factory=dict)       # measured CPU % (reported)

    def has(self, side: str) -> bool:
        return self.slots.get(side, 0) > 0


@dataclass(frozen=True)
class Decision:
    """Where a batch of calls goes, and the numbers that chose it."""

    fn: str
    seq: int
    time: float
    calls: int
    side: str
    phase: str                                 # hint | explore | exploit | refresh
    reason: str
    probe_side: str | None = None
    probe_calls: int = 0
    probes: tuple[str, ...] = ()                # explore: the sides to probe now
    est: dict[str, float] = field(default_factory=dict)        # finish time, s
    per_call: dict[str, float] = field(default_factory=dict)   # s per call per slot
    inputs: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """A flat record (one row of ``fn.decisions``)."""
        out: dict[str, Any] = {"time": self.time, "seq": self.seq, "function": self.fn,
                               "calls": self.calls, "side": self.side, "phase": self.phase,
                               "probe_side": self.probe_side, "probe_calls": self.probe_calls}
        for s in SIDES:
            out[f"est_{s}_s"] = self.est.get(s, float("nan"))
            out[f"per_call_{s}_ms"] = self.per_call.get(s, float("nan")) * 1e3
        out.update(self.inputs)
        out["reason"] = self.reason
        return out


def _fmt_s(x: float) -> str:
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


class Placer:
    """Profiles and decisions for every function of a session (pure state machine).

    Parameters
    ----------
    probe : int
        Calls in an exploration probe on a side without measurements.
    refresh : int
        Every ``refresh`` decisions of a function, probe the side it is not using.
    refresh_share : float
        A refresh probe costs at most this share of the batch's estimated time.
    hysteresis : float
        Switch sides only when the other side is estimated this much faster.
    alpha : float
        Weight of a new measurement in the running means.
    """

    def __init__(self, probe: int = 8, refresh: int = 5, refresh_share: float = 0.03,
                 hysteresis: float = 0.15, alpha: float = 0.5, history: int = 20000) -> None:
        self.probe, self.refresh, self.refresh_share = probe, refresh, refresh_share
        self.hysteresis, self.alpha = hysteresis, alpha
        self.profiles: dict[str, Profile] = {}
        self.history: dict[str, deque[Decision]] = {}
        self.last: dict[str, str] = {}
        self._seen: deque[str] = deque(maxlen=4096)
        self._seen_set: set[str] = set()
        self._limit = history
        self.inflight: dict[tuple[str, str], float] = {}   # (fn, side) -> probe call sent
        self.patience = 30.0             # a probe call not measured by then is retried
        self.spread: dict[str, dict[str, int]] = {}        # calls sent while both probe

    def profile(self, fn: str) -> Profile:
        p = self.profiles.get(fn)
        if p is None:
            p = self.profiles[fn] = Profile(fn)
            self.history[fn] = deque(maxlen=self._limit)
        return p

    # --- measurements ---------------------------------------------------------------------
    def observe(self, stats: dict[str, Any]) -> bool:
        """Take one measurement (a chunk's or a call's stats); ``False`` if seen before.

        ``stats``: ``fn``, ``side``, ``calls`` and totals ``compute_s``, ``fetch_s``,
        ``remote_bytes``, ``local_bytes``, ``fetches``, ``out_bytes`` (optional ``id``,
        ``errors``, ``timed_calls``: calls that were timed, i.e. not compiling; ``load``:
        the side's load while they ran).
        """
        cid = stats.get("id")
        if cid is not None:
            if cid in self._seen_set:
                return False
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(cid)
            self._seen_set.add(cid)
        p = self.profile(stats["fn"])
        now = stats.get("t", time.time())
        began = stats.get("t0", now)         # when the measured calls started
        calls = int(stats.get("calls", 0))
        p.calls += calls
        p.errors += int(stats.get("errors", 0))
        p.t_first = began if p.t_first is None else min(p.t_first, began)
        p.t_last = now if p.t_last is None else max(p.t_last, now)
        if stats.get("side") in SIDES:       # every call counts on its side, timed or not
            p.sides[stats["side"]].calls += calls
        timed = int(stats.get("timed_calls", calls))
        if timed <= 0 or stats.get("side") not in SIDES:
            return True
        self.inflight.pop((stats["fn"], stats["side"]), None)     # a probe came back
        per = {k: float(stats.get(k, 0.0)) / (timed if k == "compute_s" else max(calls, 1))
               for k in ("compute_s", "fetch_s", "remote_bytes", "local_bytes", "fetches",
                         "out_bytes")}
        per["load"] = min(float(stats.get("load", 0.0)), 0.95)
        p.sides[stats["side"]].add(per, self.alpha, now, p.decisions)
        return True

    # --- the model ------------------------------------------------------------------------
    def per_call(self, p: Profile, side: str, env: Env, remote_bytes: float | None) -> float:
        """Seconds one call occupies a slot on ``side`` (see the module docstring)."""
        sp = p.sides[side]
        known = [q for q in p.sides.values() if q.samples]
        out = max(q.out_bytes for q in known) if known else 0.0
        if side == "compute":
            nbytes = sp.remote_bytes if remote_bytes is None else remote_bytes
            fetches = sp.fetches
        else:
            nbytes, fetches = sp.remote_bytes, sp.fetches   # refs are local there
        now = min(env.load.get(side, 0.0), 0.95)
        body = sp.compute_s * (1.0 - sp.load) / (1.0 - now)
        return body + nbytes / env.rate + fetches * env.latency + out / env.rate

    def finish(self, n: int, per_call: float, side: str, env: Env) -> float:
        return env.backlog_s.get(side, 0.0) + n * per_call / max(env.slots.get(side, 0), 1e-9)

    def decide(self, fn: str, n: int, env: Env, *, remote_bytes: float | None = None,
               hint: str | None = None) -> Decision:
        """Where ``n`` calls of ``fn`` go. ``remote_bytes``: bytes of store references per
        call (known before running); ``hint``: a fixed side (recorded, not decided)."""
        p = self.profile(fn)
        p.decisions += 1
        seq = p.decisions
        avail = [s for s in SIDES if env.has(s)]
        per = {s: self.per_call(p, s, env, remote_bytes) for s in avail if p.known(s)}
        est = {s: self.finish(n, per[s], s, env) for s in per}
        inputs = self._inputs(p, env, remote_bytes)
        if hint is not None:
            d = Decision(fn, seq, time.time(), n, hint, "hint", f"placement hint {hint!r}",
                         est=est, per_call=per, inputs=inputs)
        elif not avail:
            raise ValueError("no storage or compute workers to place calls on")
        elif len(avail) == 1:
            d = Decision(fn, seq, time.time(), n, avail[0], "exploit",
                         f"only {avail[0]} workers exist", est=est, per_call=per,
                         inputs=inputs)
        else:
            d = self._choose(p, fn, seq, n, env, per, est, inputs, remote_bytes)
        if d.phase != "explore":
            self.last[fn] = d.side          # the side in use (hysteresis keeps it)
        self.history[fn].append(d)
        return d

    def _choose(self, p: Profile, fn: str, seq: int, n: int, env: Env,
                per: dict[str, float], est: dict[str, float], inputs: dict,
                remote_bytes: float | None = None) -> Decision:
        unknown = [s for s in SIDES if not p.known(s)]
        if unknown and n == 1:
            return self._explore_call(p, unknown, fn, seq, env, per, est, inputs,
                                      remote_bytes)
        if unknown:
            return self._explore(unknown, fn, seq, n, env, per, est, inputs, remote_bytes)
        return self._exploit(p, fn, seq, n, env, per, est, inputs)

    def _explore(self, unknown: list[str], fn: str, seq: int, n: int, env: Env,
                 per: dict[str, float], est: dict[str, float], inputs: dict,
                 remote_bytes: float | None) -> Decision:
        """A side has no measurements yet: probe it (or both)."""
        now = time.time()
        if len(unknown) == 2 and remote_bytes:   # reads the store: storage first
            k = min(self.probe, max(n // 2, 1))
            return Decision(fn, seq, now, n, "storage", "explore",
                            f"no measurements yet: probe the storage side with {k} "
                            "call(s), then the compute side (its calls read from the "
                            "storage workers, which would skew a probe beside them)",
                            probe_side="storage", probe_calls=k if n > 1 else 0,
                            probes=("storage",), est=est, per_call=per, inputs=inputs)
        if len(unknown) == 2:    # nothing measured: probe both, then decide
            k = min(self.probe, max(n // 2, 1))
            return Decision(fn, seq, now, n, "storage", "explore",
                            f"no measurements yet: probe both sides with {k} call(s) "
                            "each, then decide", probe_side="compute",
                            probe_calls=k if n > 1 else 0, probes=SIDES, est=est,
                            per_call=per, inputs=inputs)
        s = unknown[0]
        o = other(s)
        k = min(self.probe, n)
        # a lower bound for the unmeasured side: its queue, plus moving the calls'
        # store references to the compute side; when the measured side finishes
        # before that, use it now and probe the other side beside the batch
        floor = env.backlog_s.get(s, 0.0)
        if s == "compute" and remote_bytes:
            floor += n * (remote_bytes / env.rate + env.latency) / max(env.slots[s], 1)
        if est[o] <= floor:
            k = min(k, n - 1)
            return Decision(fn, seq, now, n, o, "refresh",
                            f"{s} side not measured yet, but it cannot finish first: "
                            f"its queue and transfers alone take ~{_fmt_s(floor)}, {o} "
                            f"finishes {n} call(s) in ~{_fmt_s(est[o])}; probe {s} "
                            f"with {k} call(s) beside", probe_side=s, probe_calls=k,
                            est=est, per_call=per, inputs=inputs)
        return Decision(fn, seq, now, n, other(s), "explore",
                        f"{s} side not measured yet: probe it with {k} call(s)",
                        probe_side=s, probe_calls=k if n > 1 else 0, probes=(s,),
                        est=est, per_call=per, inputs=inputs)

    def _explore_call(self, p: Profile, unknown: list[str], fn: str, seq: int, env: Env,
                      per: dict[str, float], est: dict[str, float], inputs: dict,
                      remote_bytes: float | None) -> Decision:
        """One call (a burst of single calls arrives faster than probes return): the first
        call on each unmeasured side probes it, the sides' probes running at once
        (storage first for calls that read the store); while a probe is in flight, calls
        go to the measured side, or, with neither measured, are spread over the sides'
        slots, weighted by the cost of moving the calls' references to the compute side."""
        now = time.time()
        first = "storage" if remote_bytes else "compute"
        order = sorted(unknown, key=lambda s: s != first)
        free = [s for s in order if not self._probing(fn, s, now)]
        kw: dict[str, Any] = {"est": est, "per_call": per, "inputs": inputs}
        if free:
            s = free[0]
            self.inflight[(fn, s)] = now
            busy = [x for x in SIDES if x != s and self._probing(fn, x, now)]
            why = f"{s} side not measured yet: this call probes it" + (
                f", beside the {busy[0]} side's probe in flight" if busy else "")
            return Decision(fn, seq, now, 1, s, "explore", why, probe_side=s,
                            probe_calls=1, probes=(s,), **kw)
        known = [s for s in SIDES if p.known(s)]
        if known:
            s = known[0]
            return Decision(fn, seq, now, 1, s, "explore",
                            f"the {unknown[0]} side's probe is in flight: meanwhile calls "
                            f"go to {s} (measured: {_fmt_s(per[s])} a call)", **kw)
        sent = self.spread.setdefault(fn, dict.fromkeys(SIDES, 0))
        move = (remote_bytes or 0.0) / env.rate + (env.latency if remote_bytes else 0.0)
        cost = {"storage": PRIOR_S / max(env.slots["storage"], 1e-9),
                "compute": (PRIOR_S + move) / max(env.slots["compute"], 1e-9)}
        s = min(SIDES, key=lambda x: ((sent[x] + 1) * cost[x], x != first))
        sent[s] += 1
        return Decision(fn, seq, now, 1, s, "explore",
                        "both sides' probes are in flight: calls spread over the sides' "
                        f"slots until one returns ({sent['storage']} storage, "
                        f"{sent['compute']} compute so far)", **kw)

    def _probing(self, fn: str, side: str, now: float) -> bool:
        t = self.inflight.get((fn, side))
        return t is not None and now - t < self.patience

    def _exploit(self, p: Profile, fn: str, seq: int, n: int, env: Env,
                 per: dict[str, float], est: dict[str, float], inputs: dict) -> Decision:
        """Both sides measured: the one that finishes first (with hysteresis), and now and
        then a small refresh probe of the other."""
        now = time.time()
        best = min(est, key=est.get)
        last = self.last.get(fn, best)
        side = best
        if best != last and est[best] > est[last] * (1 - self.hysteresis):
            side = last               # not better by the margin: stay
        o = other(side)
        why = (f"{side} finishes {n} call(s) in ~{_fmt_s(est[side])} vs {o} "
               f"~{_fmt_s(est[o])} (per call {_fmt_s(per[side])} vs {_fmt_s(per[o])}; "
               f"{o} backlog {_fmt_s(env.backlog_s.get(o, 0.0))}, storage load "
               f"{env.load.get('storage', 0.0):.0%})")
        if side != best:
            why += f"; staying on {side}: {best} is less than {self.hysteresis:.0%} faster"
        stale = seq - p.sides[o].at_decision
        if stale >= self.refresh and n > 1:
            budget = self.refresh_share * est[side] / max(per[o] / max(env.slots[o], 1),
                                                          1e-12)
            k = int(min(self.probe, max(1.0, budget), n - 1))
            return Decision(fn, seq, now, n, side, "refresh",
                            why + f"; refresh: {k} call(s) on {o} (its profile is "
                            f"{stale} decisions old)", probe_side=o, probe_calls=k,
                            est=est, per_call=per, inputs=inputs)
        return Decision(fn, seq, now, n, side, "exploit", why, est=est, per_call=per,
                        inputs=inputs)

    def _inputs(self, p: Profile, env: Env, remote_bytes: float | None) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in SIDES:
            sp = p.sides[s]
            out[f"compute_{s}_ms"] = sp.compute_s * 1e3 if sp.samples else float("nan")
            out[f"fetch_{s}_ms"] = sp.fetch_s * 1e3 if sp.samples else float("nan")
            out[f"samples_{s}"] = sp.samples
        c = p.sides["compute"]
        out["in_bytes"] = float(remote_bytes if remote_bytes is not None
                                else max(c.remote_bytes, p.sides["storage"].local_bytes))
        out["out_bytes"] = max(sp.out_bytes for sp in p.sides.values())
        out["transfer_MBps"] = env.rate / 1e6
        out["latency_ms"] = env.latency * 1e3
        out["storage_load"] = env.load.get("storage", 0.0)
        out["storage_cpu_pct"] = env.cpu.get("storage", float("nan"))
        for s in SIDES:
            out[f"backlog_{s}_s"] = env.backlog_s.get(s, 0.0)
            out[f"slots_{s}"] = env.slots.get(s, 0)
        return out

    # --- reading back ---------------------------------------------------------------------
    def rows(self, fn: str) -> list[dict[str, Any]]:
        return [d.row() for d in self.history.get(fn, ())]

    def latest(self, fn: str) -> Decision | None:
        h = self.history.get(fn)
        return h[-1] if h else None


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``n`` calls into ``parts`` contiguous ranges of near-equal size (empty ones dropped).

    >>> split(10, 3)
    [(0, 3), (3, 6), (6, 10)]
    """
    parts = max(1, min(parts, n))
    return [(i * n // parts, (i + 1) * n // parts) for i in range(parts) if n]
