"""``workbench bench dashboard``: what a live dashboard costs the engine.

The same program runs, in a real Jupyter kernel on a local Dask cluster, with the
dashboard shown (``widget=True``: its thread reads ``run.metrics``, binned and rendered
four times a second, and sends the widget updates over the kernel's IOPub channel, which
this process drains as a frontend would) and without it (``widget=False``). Each
repetition runs both back to back, in alternating order; the figure is the engine's
steady throughput (``run.steady_records_per_s``: first batch to last, start-up excluded),
and the ratio *on/off* is taken per pair, then the median over all pairs (``PAIRS`` pairs
per repetition: short runs close together in time, because the machine is shared and
its load drifts). The bar is 0.95. The kernel's own CPU time per second of the cell
(the dashboard's thread is the difference between on and off) is measured as well: it is
the cost itself, without the engine's noise.

Programs (``scale >> mean4 >> running_sum`` on 65,536-record batches replayed from a
16-batch pool, output discarded):

- ``fused``: default placement, one unit on one compute worker;
- ``split``: ``scale`` on two instances, ``running_sum`` on the storage worker: two hops,
  four instances (the quickstart's live program).
"""

from __future__ import annotations

import json
import time
from typing import Any

from .common import median, report, verdict

DURATION_S, QUICK_DURATION_S = 3.0, 1.5
PAIRS = 3                   # on/off pairs per repetition
PROGRAMS = {"fused": "{}, {}", "split": '{"running_sum": "storage"}, {"scale": 2}'}
BAR = 0.95
COLUMNS = ["program", "pairs", "off_Mrps", "on_Mrps", "on/off", "kernel_cpu_off_%",
           "kernel_cpu_on_%", "updates_per_s", "widget_msgs_per_s", "rtt_off_ms", "rtt_on_ms",
           "bar"]
RTT_CELLS = 12              # `1+1` round trips per measurement, while the run streams

# the quickstart's live program: an unbounded replay of 16 batches of 65,536 records
PROGRAM = """
import numpy as np, workbench as wb
from workbench.bench import ops
_pool = np.random.default_rng(0).random(16 * 65536)
def _replay(i):
    k = i % 16
    return _pool[k * 65536:(k + 1) * 65536]
_prog = wb.sources.generator(_replay) >> ops.scale >> ops.mean4 >> ops.running_sum
_cluster = wb.cluster()
"""
SETUP = PROGRAM + """
def _bench(duration, placement, parallelism, widget):
    r = _prog.run(duration=duration, sink="discard", widget=widget, placement=placement,
                  parallelism=parallelism)
    r.wait()
    board = r._dashboard
    return {"rps": r.steady_records_per_s, "records": r.source_records,
            "stream_s": r.stream_seconds,
            "updates": board.updates if board is not None else 0}

def _start(placement, parallelism, widget):
    global _live
    _live = _prog.run(duration=600, sink="discard", widget=widget, placement=placement,
                      parallelism=parallelism)
"""


class Kernel:
    """A real IPython kernel (this environment's Python), driven like a frontend."""

    def __init__(self) -> None:
        import psutil
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        self.process = psutil.Process(self.km.provisioner.pid)

    def cpu(self) -> float:
        """CPU seconds the kernel process has used (its threads, not the cluster's)."""
        t = self.process.cpu_times()
        return t.user + t.system

    def run(self, code: str, timeout: float = 300) -> tuple[str, dict[str, int]]:
        """Execute ``code``; return its stdout and a count of the IOPub messages by type
        (all of them: widget updates from the dashboard's thread included)."""
        counts: dict[str, int] = {}
        out: list[str] = []

        def hook(msg: dict) -> None:
            counts[msg["msg_type"]] = counts.get(msg["msg_type"], 0) + 1
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])

        try:
            reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook,
                                                allow_stdin=False)
        except TimeoutError:
            raise RuntimeError(f"the benchmark kernel gave no answer in {timeout:g} s to:\n"
                               f"{code}") from None
        if reply["content"]["status"] != "ok":
            raise RuntimeError("the benchmark kernel failed:\n"
                               + "\n".join(reply["content"].get("traceback", [])))
        return "".join(out), counts

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def one(kernel: Kernel, program: str, widget: bool, duration: float) -> dict[str, float]:
    t, cpu = time.perf_counter(), kernel.cpu()
    text, counts = kernel.run(f"import json as _j\nprint(_j.dumps(_bench({duration}, "
                              f"{PROGRAMS[program]}, {widget})))")
    res = json.loads(text.strip().splitlines()[-1])
    res["widget_msgs"] = counts.get("comm_msg", 0)
    res["wall_s"] = time.perf_counter() - t
    res["cpu_frac"] = (kernel.cpu() - cpu) / res["wall_s"]
    return res


def rtt(kernel: Kernel, program: str, widget: bool) -> list[float]:
    """Seconds from an execute request for ``1+1`` to the kernel's idle, while the program
    streams (with its dashboard updating, or not), ``RTT_CELLS`` times."""
    kernel.run(f"_start({PROGRAMS[program]}, {widget})")
    out = []
    try:
        for _ in range(RTT_CELLS):
            time.sleep(0.1)
            t = time.perf_counter()
            kernel.run("1+1")
            out.append(time.perf_counter() - t)
    finally:
        kernel.run("_live.stop()")
    return out


def measure(kernel: Kernel, programs: tuple[str, ...], repeat: int, duration: float,
            pairs: int = PAIRS) -> dict[str, dict[str, list]]:
    for p in programs:                       # warm: compile, load artifacts, import plotly
        for w in (False, True):
            one(kernel, p, w, min(duration, 0.5))
    res: dict[str, dict[str, list]] = {p: {"off": [], "on": [], "rtt_off": [], "rtt_on": []}
                                       for p in programs}
    for rep in range(repeat):
        for p in programs:
            for k in range(pairs):
                order = (False, True) if (rep * pairs + k) % 2 == 0 else (True, False)
                for w in order:
                    res[p]["on" if w else "off"].append(one(kernel, p, w, duration))
            for w in (False, True):
                res[p]["rtt_on" if w else "rtt_off"] += rtt(kernel, p, w)
    return res


def rows_of(res: dict[str, dict[str, list]], quick: bool = False
            ) -> list[dict[str, Any]]:
    rows = []
    for p, by in res.items():
        off, on = by["off"], by["on"]
        ratios = [b["rps"] / a["rps"] for a, b in zip(off, on)]
        row: dict[str, Any] = {
            "program": p, "pairs": len(off),
            "off_Mrps": median(r["rps"] for r in off) / 1e6,
            "on_Mrps": median(r["rps"] for r in on) / 1e6,
            "on/off": median(ratios),
            "kernel_cpu_off_%": 100 * median(r["cpu_frac"] for r in off),
            "kernel_cpu_on_%": 100 * median(r["cpu_frac"] for r in on),
            "updates_per_s": median(r["updates"] / r["stream_s"] for r in on),
            "widget_msgs_per_s": median(r["widget_msgs"] / r["stream_s"] for r in on),
            "rtt_off_ms": 1e3 * median(by["rtt_off"]),
            "rtt_on_ms": 1e3 * median(by["rtt_on"]),
        }
        row["bar"] = verdict(f"on/off>={BAR:g}", row["on/off"] >= BAR, quick)
        row["ratios_all"] = " ".join(f"{x:.3f}" for x in ratios)
        row["off_Mrps_all"] = " ".join(f"{r['rps'] / 1e6:.4g}" for r in off)
        row["on_Mrps_all"] = " ".join(f"{r['rps'] / 1e6:.4g}" for r in on)
        row["off_widget_msgs"] = sum(r["widget_msgs"] for r in off)
        rows.append(row)
    return rows


def main(args: Any) -> int:
    quick = getattr(args, "quick", False)
    repeat = max(1, int(getattr(args, "repeat", 5)))
    duration = float(getattr(args, "duration", None) or
                     (QUICK_DURATION_S if quick else DURATION_S))
    programs = tuple(getattr(args, "programs", None) or PROGRAMS)
    kernel = Kernel()
    try:
        kernel.run(SETUP)
        pairs = 1 if quick else PAIRS
        rows = rows_of(measure(kernel, programs, repeat, duration, pairs), quick)
    finally:
        kernel.close()
    notes = (
        f"Mrps = million source records/s while streaming (start-up excluded), median of "
        f"{repeat * (1 if quick else PAIRS)} pairs of {duration:g} s runs in one Jupyter "
        "kernel on a local Dask cluster; off = widget=False, on = widget=True (the live "
        "dashboard's thread updating and sending widget messages, drained by this process "
        "as a frontend would). on/off = median of the per-pair ratios (run back to back, order "
        "alternating). kernel_cpu_*_% = the kernel process's CPU time / the cell's wall "
        "time (on - off: what the dashboard costs a core). updates_per_s = dashboard redraws"
        " per second of streaming; widget_msgs_per_s = comm messages the kernel sent per "
        "second. rtt_*_ms = median round trip of a `1+1` cell in that kernel while the "
        f"program streams ({RTT_CELLS} per repetition), its dashboard off or on.")
    report("dashboard", rows, getattr(args, "out", "data/bench"), COLUMNS, notes,
           quick=quick)
    return 0
