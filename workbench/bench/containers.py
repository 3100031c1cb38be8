"""``workbench bench containers``: compile in the pinned image vs on the host, and what
moves instead of the image.

Measured side by side in one run, on the same operators (:mod:`workbench.bench.ops`),
with the same measuring code (:func:`workbench.bench.compile.worker`: first call of the
fused segment in a fresh, numba-warm Python process):

1. **compile**: a fresh host process vs a fresh process inside a long-lived container of
   the image (``docker exec``), each on its own empty store, in alternating order. The
   ratio is container / host per repetition; the bar is its median <= 1.15.
2. **fresh worker, first batch**: a fresh process in the container that loads the artifact
   the host compiled (numba cache hit counters recorded) vs one that compiles itself.
3. **container start**: ``docker run --rm IMAGE python -c pass``, and the compile driver's
   start (create, start, first answer from its server).
4. **driver round trip**: a cold compile requested through the driver, seen from the
   client vs inside the container.
5. **sizes**: the image vs the quickstart program's artifact (module files, numba cache
   files): the bar is image / artifact >= 1000.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from typing import Any

from .common import median, report

BAR_COMPILE = 1.15
BAR_SIZE = 1000
PROGRAMS = ("scale+mean4+running_sum", "fir")
COLUMNS = ["measure", "program", "reps", "a", "a_value", "b", "b_value", "unit", "ratio",
           "bar", "ok", "cpu_ratio"]


def worker(root: str, program: str) -> dict[str, Any]:
    """:func:`workbench.bench.compile.worker`, plus the CPU time of the first call (the
    compile's own cost, less exposed to other tenants of a shared machine than wall time)."""
    import numba

    from .compile import worker as measure_first_call

    t0 = time.thread_time()
    calls: list[float] = []          # CPU seconds of each outermost compile-or-load
    depth = [0]
    real = numba.core.dispatcher.Dispatcher._compile_for_args

    def timed(self: Any, *args: Any, **kw: Any) -> Any:
        depth[0] += 1
        t = time.thread_time()
        try:
            return real(self, *args, **kw)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                calls.append(time.thread_time() - t)

    numba.core.dispatcher.Dispatcher._compile_for_args = timed
    try:
        out = measure_first_call(root, program)
    finally:
        numba.core.dispatcher.Dispatcher._compile_for_args = real
    # the segments' first calls (the first entry is the worker's numba warm-up)
    out["first_cpu_ms"] = sum(calls[1:]) * 1e3
    out["cpu_total_ms"] = (time.thread_time() - t0) * 1e3
    return out


def _spawn(root: str, program: str) -> dict[str, Any]:
    import subprocess
    import sys

    env = dict(os.environ, WORKBENCH_ARTIFACTS=root)
    for k in ("NUMBA_CACHE_DIR", "WORKBENCH_DISABLE_JIT", "NUMBA_DISABLE_JIT"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-m", "workbench.bench.containers", root, program],
                          env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"host worker for {program!r} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _in_container(ctr: Any, root: str, program: str,
                  module: str = "workbench.bench.containers") -> dict[str, Any]:
    """Run ``module``'s measuring worker for ``program`` in ``ctr``; its last JSON line."""
    from ..containers import engine

    env = {"WORKBENCH_ARTIFACTS": root, **engine.forwarded_env()}
    code, out = ctr.exec_run(["python", "-m", module, root, program], environment=env)
    text = out.decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"container worker for {program!r} failed ({code}):\n"
                           f"{text[-3000:]}")
    return json.loads(text.strip().splitlines()[-1])


def _bundle_bytes(root: str, modules: list[str]) -> int:
    from ..compile import ArtifactStore

    files = ArtifactStore(root).bundle(modules)
    return sum(len(data) for data, _ in files.values())


def _times(k: float) -> Any:
    def times(x):
        return x * k
    return times


def _driver_round_trip(store_root: str, tag: str, reps: int) -> tuple[float, list, list]:
    """Driver start time; per rep (client ms, inside ms) of a cold compile through it."""
    import numpy as np

    from ..compile import ArtifactStore, CompiledSegment
    from ..compile.docker_driver import DockerDriver
    from ..model.fusion import plan_segments, segments
    from ..model.graph import operator
    from ..model.sources import array
    from ..runtime.preflight import dry_run
    from .ops import mean4, running_sum

    drv = DockerDriver(ArtifactStore(store_root), image=tag).start()
    client_ms, inside_ms = [], []
    try:
        for i in range(reps):
            k = 1.0 + (uuid.uuid4().int % 10_000) / 7.0 + i   # a new module: a cold compile
            prog = array(np.arange(4096.0), batch_size=4096) >> operator(_times(k)) >> mean4 \
                >> running_sum
            nodes = plan_segments(prog)
            arts = {s.name: CompiledSegment(s, drv.store).art for s in segments(nodes)}
            t = time.perf_counter()
            drv.call(dry_run, nodes, arts, prog.source.batch(0),
                     names=[n for a in arts.values() for n in a.names])
            client_ms.append((time.perf_counter() - t) * 1e3)
            inside_ms.append(drv.last_seconds * 1e3)
    finally:
        drv.close()
    return drv.started_s * 1e3, client_ms, inside_ms


def measure(repeat: int, programs: tuple[str, ...]) -> dict[str, Any]:
    from ..containers import engine, image
    c = engine.client()
    tag = image.ensure()
    source = image.source_hash()
    img_bytes = c.images.get(tag).attrs["Size"]
    base = tempfile.mkdtemp(prefix="wb-bench-containers-")
    sid = uuid.uuid4().hex[:10]
    res: dict[str, Any] = {"tag": tag, "image_bytes": img_bytes, "start_ms": [],
                           "pairs": {p: [] for p in programs}, "loads": {p: [] for p in
                                                                         programs}}
    try:
        for _ in range(repeat):               # container start: create, start, run, exit
            t = time.perf_counter()
            c.containers.run(tag, ["python", "-c", "pass"], remove=True,
                             labels=engine.labels(sid, "bench"))
            res["start_ms"].append((time.perf_counter() - t) * 1e3)
        ctr = c.containers.run(tag, ["sleep", "infinity"], detach=True, init=True,
                               name=f"wb-bench-{sid}", user=engine.host_user(),
                               volumes={base: {"bind": base, "mode": "rw"}},
                               labels=engine.labels(sid, "bench"))
        for rep in range(repeat):
            for program in programs:
                host_root = os.path.join(base, f"host-{rep}-{program}")
                ctr_root = os.path.join(base, f"ctr-{rep}-{program}")
                if rep % 2 == 0:
                    host = _spawn(host_root, program)
                    inside = _in_container(ctr, ctr_root, program)
                else:
                    inside = _in_container(ctr, ctr_root, program)
                    host = _spawn(host_root, program)
                res["pairs"][program].append((host, inside))
                # a fresh worker in the image loads what the host compiled
                res["loads"][program].append(_in_container(ctr, host_root, program))
                if "artifact_bytes" not in res:
                    res["artifact_bytes"] = _bundle_bytes(host_root, host["segments"])
        res["driver"] = _driver_round_trip(os.path.join(base, "driver"), tag, repeat)
        # the fresh workers rebuild module text from the operators with the image's
        # workbench: a source edit during the run would give them other artifact names
        res["source_changed"] = image.source_hash() != source
    finally:
        engine.cleanup(session=sid)
        shutil.rmtree(base, ignore_errors=True)
    return res


def rows_of(res: dict[str, Any], repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for program, pairs in res["pairs"].items():
        ratios = [i["first_ms"] / h["first_ms"] for h, i in pairs]
        cpu = [i["first_cpu_ms"] / h["first_cpu_ms"] for h, i in pairs]
        r = median(ratios)
        rows.append({"measure": "compile (fresh warm process)", "program": program,
                     "reps": len(pairs), "a": "container",
                     "a_value": median(i["first_ms"] for _, i in pairs), "b": "host",
                     "b_value": median(h["first_ms"] for h, _ in pairs), "unit": "ms",
                     "ratio": r, "bar": f"<= {BAR_COMPILE}", "ok": r <= BAR_COMPILE,
                     "cpu_ratio": median(cpu),
                     "container_cpu_ms": median(i["first_cpu_ms"] for _, i in pairs),
                     "host_cpu_ms": median(h["first_cpu_ms"] for h, _ in pairs),
                     "ratios_all": " ".join(f"{x:.3f}" for x in ratios),
                     "cpu_ratios_all": " ".join(f"{x:.3f}" for x in cpu),
                     "container_misses": sum(i["misses"] for _, i in pairs),
                     "host_misses": sum(h["misses"] for h, _ in pairs)})
    for program, loads in res["loads"].items():
        own = [i for _, i in res["pairs"][program]]
        load_ms, own_ms = median(x["first_ms"] for x in loads), median(x["first_ms"] for x in own)
        hits = sum(x["hits"] for x in loads)
        rows.append({"measure": "fresh worker first batch", "program": program,
                     "reps": len(loads), "a": f"artifact (hits {hits}/{len(loads)})",
                     "a_value": load_ms, "b": "compiles itself", "b_value": own_ms,
                     "unit": "ms", "ratio": load_ms / own_ms, "bar": "cache hit",
                     "ok": hits == len(loads) and not any(x["misses"] for x in loads),
                     "load_hits_all": " ".join(str(x["hits"]) for x in loads),
                     "load_misses_all": " ".join(str(x["misses"]) for x in loads),
                     "load_ms_all": " ".join(f"{x['first_ms']:.1f}" for x in loads)})
    start_ms, client_ms, inside_ms = res["driver"]
    rows.append({"measure": "container start", "program": "-", "reps": repeat,
                 "a": "docker run python -c pass", "a_value": median(res["start_ms"]),
                 "b": "compile driver ready", "b_value": start_ms, "unit": "ms",
                 "ratio": "", "bar": "", "ok": ""})
    rows.append({"measure": "driver round trip (cold compile)", "program": "times+mean4+rs",
                 "reps": len(client_ms), "a": "client", "a_value": median(client_ms),
                 "b": "inside container", "b_value": median(inside_ms), "unit": "ms",
                 "ratio": median(client_ms) / median(inside_ms), "bar": "", "ok": ""})
    art = res.get("artifact_bytes", 0)
    size_ratio = res["image_bytes"] / max(art, 1)
    rows.append({"measure": "image vs artifact", "program": next(iter(res["pairs"])),
                 "reps": 1,
                 "a": "image", "a_value": res["image_bytes"] / 2**10, "b": "artifact",
                 "b_value": art / 2**10, "unit": "KiB", "ratio": size_ratio,
                 "bar": f">= {BAR_SIZE}", "ok": size_ratio >= BAR_SIZE})
    return rows


def main(args: Any) -> int:
    from ..containers import engine

    why = engine.unavailable()
    if why:
        print(f"workbench bench containers needs a Docker engine: {why}")
        return 1
    repeat = max(1, int(getattr(args, "repeat", 5)))
    programs = tuple(getattr(args, "programs", None) or
                     (PROGRAMS[:1] if getattr(args, "quick", False) else PROGRAMS))
    res = measure(repeat, programs)
    rows = rows_of(res, repeat)
    notes = (f"image {res['tag']}. compile: first call of the fused segment in a fresh "
             "numba-warm process, each on an empty store; ratio = median over repetitions "
             "of container/host, measured in alternating order. fresh worker: a new "
             "process in the image loading the artifact the host compiled (numba cache "
             "hits) vs compiling itself. artifact: module files + numba cache files of the "
             "program's fused segment and its operators.")
    report("containers", rows, getattr(args, "out", "data/bench"), COLUMNS, notes)
    if res.get("source_changed"):
        print("WARNING: the workbench source changed during the run; the image's fresh "
              "workers may have named the artifacts differently (cache misses). Run again.")
    bad = [f"{r['measure']} {r['program']}" for r in rows if r["ok"] is False]
    if bad:
        print(f"WARNING: bar missed: {', '.join(bad)}")
    return 0


if __name__ == "__main__":  # the measuring process: ROOT PROGRAM (host or container)
    import sys

    print(json.dumps(worker(sys.argv[1], sys.argv[2])))
