"""Workloads of function calls, run round by round under a placement policy.

A :class:`Workload` is a number of rounds; each round issues every part's calls at once
(one ``fn.map`` per part, coalesced) and waits for all of them, like a service answering a
burst of requests per round. :func:`run` times a workload under a policy: ``"compute"`` and
``"storage"`` pin every function to that side; ``"auto"`` gives each function a fresh
profile, so its exploration is part of the measured time.

The workloads (:func:`khop_workload`, :func:`heavy_workload`, :func:`mixed_workload`, and
:func:`short_workload`: bursts of single calls, at most 100) are built from :mod:`.rmat`
and :mod:`.heavy`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import workbench as wb

from . import heavy, rmat

POLICIES = ("compute", "storage", "auto")


@dataclass
class Part:
    """One function's calls in every round: ``make(round) -> (args, kwargs)`` for ``map``."""

    fn: wb.Function
    make: Callable[[int], tuple[tuple, dict]]


@dataclass
class Workload:
    name: str
    rounds: int
    parts: list[Part]
    info: dict[str, Any] = field(default_factory=dict)

    def calls(self) -> int:
        return sum(_count(p.make(r)[0]) for r in range(self.rounds) for p in self.parts)


def _count(args: tuple) -> int:
    return max(len(a) for a in args if isinstance(a, (list, np.ndarray)))


def khop_workload(refs: list[Any], rounds: int, per_round: int, k: int = 3,
                  seed: int = 0) -> Workload:
    """``per_round`` k-hop queries per round over the graph partitions ``refs``."""
    fn = wb.Function(rmat.khop, name="khop")
    qs = [rmat.queries(refs, per_round, seed + r) for r in range(rounds)]
    return Workload("k-hop", rounds, [Part(fn, lambda r: ((qs[r][0], qs[r][1], k), {}))],
                    {"khop_calls": per_round, "k": k})


def heavy_workload(rounds: int, per_round: int, iters: int = 300, size: int = 64,
                   seed: int = 0) -> Workload:
    """``per_round`` calls of :func:`heavy.simulate` on ``size`` numbers per round."""
    fn = wb.Function(heavy.simulate, name="simulate")
    xs = [heavy.inputs(per_round, size, seed + r) for r in range(rounds)]
    return Workload("compute-heavy", rounds, [Part(fn, lambda r: ((xs[r], iters), {}))],
                    {"heavy_calls": per_round, "iters": iters})


def mixed_workload(refs: list[Any], rounds: int, khop_per_round: int, heavy_per_round: int,
                   k: int = 3, iters: int = 300, seed: int = 0) -> Workload:
    """Both at once: every round issues k-hop queries and compute-heavy calls together."""
    a = khop_workload(refs, rounds, khop_per_round, k, seed)
    b = heavy_workload(rounds, heavy_per_round, iters, seed=seed + 1000)
    return Workload("mixed", rounds, a.parts + b.parts, {**a.info, **b.info})


def short_workload(refs: list[Any], bursts: int = 5, khop_per_burst: int = 10,
                   heavy_per_burst: int = 10, k: int = 3, iters: int = 300,
                   seed: int = 0) -> Workload:
    """A short mixed workload of single calls: ``bursts`` bursts, each ``khop_per_burst``
    k-hop queries and ``heavy_per_burst`` compute-heavy calls issued one ``fn(...)`` at a
    time without waiting (at most 100 calls in all by default), then awaited: the calls
    arrive faster than the first measurements return."""
    a = khop_workload(refs, bursts, khop_per_burst, k, seed)
    b = heavy_workload(bursts, heavy_per_burst, iters, seed=seed + 1000)
    return Workload("short", bursts, a.parts + b.parts,
                    {**a.info, **b.info, "single": True})


def with_policy(w: Workload, policy: str) -> Workload:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}")
    parts = [Part(p.fn.with_placement(policy), p.make) for p in w.parts]
    return Workload(w.name, w.rounds, parts, w.info)


def warm(w: Workload) -> None:
    """Compile (or load) every function on every worker, and measure the transfer rate
    between workers (once per session), before anything is timed."""
    wb.functions.calibrate()
    for p in w.parts:
        args, kwargs = p.make(0)
        first = tuple(a[0] if isinstance(a, (list, np.ndarray)) else a for a in args)
        first = tuple(int(a) if isinstance(a, np.integer) else a for a in first)
        p.fn.warm(*first, **kwargs)


def run(w: Workload, policy: str) -> dict[str, Any]:
    """Run every round of ``w`` under ``policy``; returns one row of measurements."""
    pw = with_policy(w, policy)
    calls = 0
    checksum = 0
    sides: dict[str, int] = {}
    single = bool(w.info.get("single"))
    t0 = time.perf_counter()
    for r in range(pw.rounds):
        handles = []
        for p in pw.parts:
            args, kwargs = p.make(r)
            handles.append(_singles(p.fn, args, kwargs) if single
                           else p.fn.map(*args, **kwargs))
        for h in handles:
            res = [f.result() for f in h] if single else h.result()
            calls += len(h) if single else h.n
            checksum = zlib.crc32(np.round(np.asarray(res, float), 6).tobytes(), checksum)
            if not single:
                for c in h.chunks:
                    sides[c.side] = sides.get(c.side, 0) + len(c.idx)
    seconds = time.perf_counter() - t0
    if single:                           # one decision per call: its side
        for p in pw.parts:
            d = p.fn.decisions
            for side, n in d.groupby("side")["calls"].sum().items():
                sides[side] = sides.get(side, 0) + int(n)
    row: dict[str, Any] = {"workload": w.name, "policy": policy, "rounds": w.rounds,
                           "calls": calls, "seconds": seconds, "calls_per_s": calls / seconds,
                           "storage_calls": sides.get("storage", 0),
                           "compute_calls": sides.get("compute", 0), "checksum": checksum}
    if policy == "auto":
        row["decisions"] = sum(len(p.fn.decisions) for p in pw.parts)
        row["choice"] = "; ".join(f"{p.fn.name}->{_final(p.fn)}" for p in pw.parts)
    row["_functions"] = [p.fn for p in pw.parts]
    return row


def _singles(fn: wb.Function, args: tuple, kwargs: dict) -> list[Any]:
    """One ``fn(...)`` call per element of the per-call arguments, none awaited."""
    n = _count(args)
    per = [a if isinstance(a, (list, np.ndarray)) else None for a in args]
    out = []
    for i in range(n):
        one = tuple(a if q is None else q[i] for a, q in zip(args, per))
        out.append(fn(*(int(v) if isinstance(v, np.integer) else v for v in one), **kwargs))
    return out


def _final(fn: wb.Function) -> str:
    d = fn.decisions
    return "?" if not len(d) else str(d["side"].iloc[-1])


def compare(workloads: list[Workload], repeat: int = 3,
            policies: tuple[str, ...] = POLICIES) -> list[dict[str, Any]]:
    """Every workload under every policy, ``repeat`` times in rotating order; one row per
    (workload, policy) with the median throughput and its ratio to the better fixed one."""
    rows = []
    for w in workloads:
        warm(w)
        runs: dict[str, list[dict]] = {p: [] for p in policies}
        for i in range(repeat):
            order = policies[i % len(policies):] + policies[:i % len(policies)]
            for p in order:
                runs[p].append(run(w, p))
        med = {p: sorted(rs, key=lambda x: x["calls_per_s"])[len(rs) // 2]
               for p, rs in runs.items()}
        fixed = [med[p]["calls_per_s"] for p in policies if p != "auto"]
        best = max(fixed) if fixed else float("nan")
        for p in policies:
            row = {k: v for k, v in med[p].items() if not k.startswith("_")}
            row["calls_per_s_all"] = " ".join(f"{x['calls_per_s']:.0f}" for x in runs[p])
            row["vs_best_fixed"] = row["calls_per_s"] / best
            row["same_results"] = len({x["checksum"] for rs in runs.values()
                                       for x in rs}) == 1
            rows.append(row)
    return rows
