"""``workbench bench recovery``: how long a stream program takes to recover from a killed
worker, and what checkpoints cost while nothing fails.

The program: an unbounded source of 65,536-record batches ``>> scale >> histogram``, the
histogram keyed with 1 MB of state (128 key groups x 1,024 bins) on two instances, one per
compute worker; sink ``discard``, metrics every 0.1 s.

- ``recovery`` (``--trials`` times): checkpoints about every second of stream; after
  ``SETTLE`` s, ``wb.faults.kill(stage="histogram", index=1)`` SIGKILLs a compute worker.
  From ``run.recoveries``: detection (kill -> Dask removed the worker and the run saw it),
  restore (-> new instances running with the checkpoint's state), replay (-> the sink passed
  the batch the run had read before the kill); ``back_s``: from the kill to the first
  100 ms window after the restore with at least half the steady rate (bar: median <= 3 s).
- ``overhead``: the same program without checkpoints, with one about every second and one
  about every 100 ms of stream, in rounds (each variant once per round: the machine's
  speed drifts over minutes); steady rate = the median 100 ms window after a warm-up.
  Bar: every-second / none >= 0.9.

Epochs are counted in batches: the benchmark sets them from the rate it measured in a first
run without checkpoints, so that a checkpoint falls about every second (or 100 ms).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np

from .common import median, report, verdict

SETTLE, QUICK_SETTLE = 4.0, 2.0
WINDOW = 0.1
BARS = {"back_s": 3.0, "overhead": 0.9}
COLUMNS = ["trial", "steady_Mrps", "epoch_batches", "checkpoint", "detection_s",
           "restore_s", "replay_s", "back_s", "batches_replayed", "state_MB"]
OVERHEAD_COLUMNS = ["variant", "epoch_batches", "Mrps", "ratio", "checkpoints",
                    "write_ms", "bar"]


def program() -> Any:
    from ..model.sources import generator
    from . import ops
    from .stream import batch

    return generator(functools.partial(batch, b=65536)) >> ops.scale >> ops.histogram


def windows(run: Any) -> tuple[np.ndarray, np.ndarray]:
    from .reconfigure import windows as w

    return w(run, WINDOW)


def steady(run: Any, start: float, stop: float) -> float:
    t, rate = windows(run)
    sel = (t >= start) & (t < stop)
    return float(np.median(rate[sel])) if sel.any() else float("nan")


def start(prog: Any, **kw: Any) -> Any:
    return prog.run(sink="discard", parallelism={"histogram": 2}, interval=WINDOW, **kw)


def trial(i: int, prog: Any, epoch: int, settle: float, root: str) -> dict:
    from ..runtime import faults

    run = start(prog, epoch=epoch, checkpoint=f"{root}/trial-{i}")
    time.sleep(settle)
    rate = steady(run, settle / 2, settle)
    faults.kill(stage="histogram", index=1, run=run)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not run.done:
        rec = run.recoveries
        if len(rec) and (rec.caught_up_at.notna().all() or rec.error.notna().any()):
            break
        time.sleep(0.1)
    time.sleep(2.0)                        # windows after the catch-up
    run.stop()
    row = run.recoveries.iloc[0].to_dict() if len(run.recoveries) else {}
    t, w = windows(run)
    killed = (row.get("killed_at") or float("nan")) - run.started
    resumed = (row.get("resumed_at") or float("nan")) - run.started
    back = [x + WINDOW for x, r in zip(t, w) if x >= resumed and r >= 0.5 * rate]
    done = run.ckpt.complete
    return {"trial": i, "steady_Mrps": rate / 1e6, "epoch_batches": epoch,
            "checkpoint": row.get("checkpoint"), "detection_s": row.get("detection_s"),
            "restore_s": row.get("restore_s"), "replay_s": row.get("replay_s"),
            "back_s": (back[0] - killed) if back else float("nan"),
            "batches_replayed": row.get("batches_replayed"),
            "state_MB": (done[-1]["bytes"] / 1e6) if done else float("nan"),
            "status": run.status, "error": row.get("error")}


def overhead_round(prog: Any, epochs: dict, settle: float, root: str, k: int) -> list[dict]:
    out = []
    for name, epoch in epochs.items():
        kw = {} if epoch is None else {"epoch": epoch, "checkpoint": f"{root}/o{k}-{name}"}
        run = start(prog, **kw)
        time.sleep(settle + 2.0)
        rate = steady(run, 1.5, settle + 2.0)
        run.stop()
        ck = run.ckpt
        out.append({"round": k, "variant": name, "epoch_batches": epoch, "Mrps": rate / 1e6,
                    "checkpoints": len(ck.complete) if ck else 0,
                    "write_ms": median(ck.write_s) * 1e3 if ck and ck.write_s else 0.0})
    return out


def main(args: Any) -> int:
    import tempfile

    from ..runtime.cluster import cluster, current

    quick = getattr(args, "quick", False)
    trials = max(1, int(getattr(args, "trials", None) or (2 if quick else 5)))
    rounds = 1 if quick else max(1, int(getattr(args, "repeat", 3)))
    settle = QUICK_SETTLE if quick else SETTLE
    session = getattr(args, "session", None)
    owned = session is None and current() is None
    session = session or current() or cluster(compute=2, storage=1)
    prog = program()
    root = tempfile.mkdtemp(prefix="wb-bench-recovery-")
    try:
        session.client.run(prog.source.fn, 0)              # every worker builds the pool
        calib = start(prog)
        time.sleep(settle)
        rate = steady(calib, settle / 2, settle)
        calib.stop()
        per_s = max(1, int(round(rate / 65536)))          # batches per second of stream
        rows = []
        for i in range(trials):
            rows.append(trial(i, prog, per_s, settle, root))
            session.wait_for_workers(3, timeout=60)        # the nanny's replacement
        epochs = {"none": None, "every 1 s": per_s, "every 100 ms": max(1, per_s // 10)}
        over: list[dict] = []
        for k in range(rounds):
            over += overhead_round(prog, epochs, settle, root, k)
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        if owned:
            session.close()
    base = {r["round"]: r["Mrps"] for r in over if r["variant"] == "none"}
    summary = []
    for name in epochs:
        got = [r for r in over if r["variant"] == name]
        mrps = median(r["Mrps"] for r in got)
        # each round's ratio to the run without checkpoints beside it (the machine's speed
        # drifts between rounds), then the median
        ratio = median(r["Mrps"] / base[r["round"]] for r in got)
        bar = ("baseline" if name == "none" else
               verdict(f">={BARS['overhead']:g}", ratio >= BARS["overhead"], quick)
               if name == "every 1 s" else "reported")
        summary.append({"variant": name, "epoch_batches": epochs[name], "Mrps": mrps,
                        "ratio": ratio, "checkpoints": median(r["checkpoints"] for r in got),
                        "write_ms": median(r["write_ms"] for r in got), "bar": bar,
                        "rounds": " ".join(f"{r['Mrps']:.3g}" for r in got)})
    back = median(r["back_s"] for r in rows)
    out = getattr(args, "out", "data/bench")
    report("recovery", rows, out, COLUMNS,
           f"kill -> sink back at >= 50% of steady (back_s): median {back:.2f} s over "
           f"{len(rows)} trial(s), bar <= {BARS['back_s']:g} s: "
           f"{verdict('', back <= BARS['back_s'], quick).strip()}. detection: kill -> the "
           "run saw Dask remove the worker; restore: -> restored instances running; replay: "
           "-> the sink passed the batch read before the kill.", quick=quick)
    report("recovery_overhead", summary, out, OVERHEAD_COLUMNS,
           f"steady rate (median 100 ms window) with 1 MB of keyed state, {rounds} round(s) "
           "of the three variants side by side; ratio: the median over rounds of each "
           "round's rate over that round's run without checkpoints.", quick=quick)
    return 0
