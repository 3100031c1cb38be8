"""``workbench bench compile``: cold compile vs artifact load in a fresh warm worker.

Each repetition, per program, uses a fresh empty artifact store and two fresh Python
processes ("warm workers": numba imported and a trivial unrelated function compiled and
called before anything is timed, so numba's own start-up is not counted):

1. the *compile* worker builds the program's fused segment through the workbench compile
   path (:class:`~workbench.compile.CompiledSegment` over the store) and times the first
   call: a cold compile, a numba cache miss that writes the artifact;
2. the *load* worker does the same with the same store: the first call now loads the
   artifact (a numba cache hit) instead of compiling.

Reported per program: medians of the first-call times, their ratio (the bar: load is at
most 5 % of compile) and the cache hits/misses each worker saw (the segment's dispatcher
and, in brackets, its operators' dispatchers). ``setup_ms`` is the time to build the
segment objects before the call (module text, hashing, files), the same in both workers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from .common import median, report, verdict

BAR = 0.05
QUICK_PROGRAMS = ("scale+mean4+running_sum",)
COLUMNS = ["program", "reps", "compile_ms", "load_ms", "ratio", "bar", "compile_miss",
           "load_hit", "setup_ms", "numba_warm_ms", "same_output"]


def _stats_count(counter: Any) -> int:
    return int(sum(counter.values()))


def worker(root: str, program: str, batch_size: int = 4096) -> dict[str, Any]:
    """One warm worker's measurement (runs in the subprocess)."""
    t0 = time.perf_counter()
    import numba
    import numpy as np

    @numba.njit(nogil=True)
    def _warm(a):  # unrelated: only starts numba's compiler
        return a * 2.0 + 1.0

    _warm(np.ones(3))
    warm_ms = (time.perf_counter() - t0) * 1e3

    from ..compile import ArtifactStore, CompiledSegment
    from ..compile.artifacts import toolchain
    from ..model.fusion import plan_segments, segments
    from .ops import PROGRAMS

    toolchain()  # the host CPU query, once per process, is not the artifact's cost
    store = ArtifactStore(root)
    data = np.random.default_rng(0).random(batch_size)
    prog = PROGRAMS[program](data, batch_size=batch_size)
    t = time.perf_counter()
    compiled = [CompiledSegment(s, store=store) for s in segments(plan_segments(prog))]
    setup_ms = (time.perf_counter() - t) * 1e3
    first_ms, hits, misses, op_hits, op_misses, checksum = 0.0, 0, 0, 0, 0, 0.0
    x = data
    for seg in compiled:
        states = seg.new_states()
        t = time.perf_counter()
        x = seg(x, states, 0)
        first_ms += (time.perf_counter() - t) * 1e3
        st = seg.dispatcher.stats
        hits += _stats_count(st.cache_hits)
        misses += _stats_count(st.cache_misses)
        for mod, func in seg.entries:
            ost = store.jitted(mod, func).stats
            op_hits += _stats_count(ost.cache_hits)
            op_misses += _stats_count(ost.cache_misses)
    checksum = float(np.asarray(x, dtype=float).sum())
    return {"first_ms": first_ms, "setup_ms": setup_ms, "warm_ms": warm_ms, "hits": hits,
            "misses": misses, "op_hits": op_hits, "op_misses": op_misses,
            "segments": [s.module for s in compiled], "checksum": checksum}


def spawn(root: str, program: str, batch_size: int = 4096) -> dict[str, Any]:
    """Run :func:`worker` in a fresh Python process; its result."""
    env = dict(os.environ, WORKBENCH_ARTIFACTS=root)
    env.pop("NUMBA_CACHE_DIR", None)      # numba's cache goes beside the store's modules
    env.pop("WORKBENCH_DISABLE_JIT", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    cmd = [sys.executable, "-m", "workbench.bench.compile", root, program, str(batch_size)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"compile worker for {program!r} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(programs: tuple[str, ...], repeat: int) -> dict[str, list[tuple[dict, dict]]]:
    """Per program, ``repeat`` (compile worker, load worker) result pairs, interleaved."""
    out: dict[str, list[tuple[dict, dict]]] = {p: [] for p in programs}
    for _ in range(repeat):
        for program in programs:
            root = tempfile.mkdtemp(prefix="wb-bench-compile-")
            try:
                cold = spawn(root, program)
                warm = spawn(root, program)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            out[program].append((cold, warm))
    return out


def rows_of(results: dict[str, list[tuple[dict, dict]]], quick: bool = False
            ) -> list[dict[str, Any]]:
    rows = []
    for program, pairs in results.items():
        cold = [c for c, _ in pairs]
        load = [w for _, w in pairs]
        c_ms = median(c["first_ms"] for c in cold)
        l_ms = median(w["first_ms"] for w in load)
        rows.append({
            "program": program, "reps": len(pairs),
            "compile_ms": c_ms, "load_ms": l_ms, "ratio": l_ms / c_ms,
            "bar": verdict(f"ratio<={BAR:.2f}", l_ms / c_ms <= BAR, quick),
            "compile_miss": (f"{sum(c['misses'] for c in cold)}"
                             f" [{sum(c['op_misses'] for c in cold)}]"),
            "load_hit": (f"{sum(w['hits'] for w in load)}/{len(load)}"
                         f" [{sum(w['op_hits'] for w in load)}]"),
            "setup_ms": median(x["setup_ms"] for x in cold + load),
            "numba_warm_ms": median(x["warm_ms"] for x in cold + load),
            "same_output": all(c["checksum"] == w["checksum"] for c, w in pairs),
            "load_misses": sum(w["misses"] for w in load),
            "compile_ms_all": " ".join(f"{c['first_ms']:.1f}" for c in cold),
            "load_ms_all": " ".join(f"{w['first_ms']:.2f}" for w in load),
        })
    return rows


def main(args: Any) -> int:
    repeat = max(1, int(getattr(args, "repeat", 5)))
    quick = getattr(args, "quick", False)
    programs = tuple(getattr(args, "programs", None) or
                     (QUICK_PROGRAMS if quick else ("scale+mean4+running_sum", "fir")))
    rows = rows_of(measure(programs, repeat), quick)
    notes = ("compile_ms/load_ms: first call of the fused segment in a fresh warm worker, "
             "cold (empty store) vs from the artifact the first worker wrote; medians over "
             f"{repeat} repetition(s). ratio = load_ms / compile_ms (bar <= {BAR:.0%}).\n"
             "compile_miss / load_hit: numba cache misses and hits of the segment dispatcher "
             "summed over repetitions [its operators' dispatchers in brackets].")
    report("compile", rows, getattr(args, "out", "data/bench"), COLUMNS, notes, quick=quick)
    bad = [r["program"] for r in rows if r["load_misses"] or not r["same_output"]]
    if bad:
        print(f"WARNING: the load worker did not hit the artifact cache for {', '.join(bad)}")
    return 0


if __name__ == "__main__":  # the subprocess entry: ROOT PROGRAM [BATCH_SIZE]
    _root, _program = sys.argv[1], sys.argv[2]
    _bs = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    print(json.dumps(worker(_root, _program, _bs)))
