"""The live dashboard in a real Jupyter kernel: it updates on its own while other cells run,
and those cells get their answers meanwhile. How fast they come back is a benchmark figure
(``workbench bench dashboard``: ``rtt_on_ms`` beside ``rtt_off_ms``), not a test bar."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import kernel_client, workbench_kernel
from workbench.bench.dashboard import PROGRAM

START = """
live = _prog.run(duration={duration}, sink="discard", widget=True,
                parallelism={{"scale": 2}}, placement={{"running_sum": "storage"}})
"""


@pytest.fixture(scope="module")
def kc():
    with kernel_client(workbench_kernel()) as client:
        yield client


def run(kc, code: str, timeout: float = 180) -> tuple[float, list[dict]]:
    """Execute ``code``; return (seconds from request to idle, iopub messages)."""
    msgs: list[dict] = []
    t = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=msgs.append,
                                   allow_stdin=False)
    dt = time.perf_counter() - t
    assert reply["content"]["status"] == "ok", reply["content"]
    return dt, msgs


def value(kc, expr: str):
    _, msgs = run(kc, f"import json as _j; print(_j.dumps({expr}))")
    text = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    return json.loads(text.strip().splitlines()[-1])


def test_other_cells_run_while_the_dashboard_updates(kc):
    run(kc, PROGRAM)
    _, msgs = run(kc, START.format(duration=600))        # stopped below, not timed out
    kinds = {m["msg_type"] for m in msgs}
    assert "display_data" in kinds and "comm_open" in kinds, kinds   # the widget is shown
    before = value(kc, "[live.dashboard().updates, live.status]")
    assert before[1] == "running", before
    for _ in range(12):                                  # the kernel answers other cells
        _, msgs = run(kc, "1+1", timeout=60)
        got = [m["content"]["data"]["text/plain"] for m in msgs
               if m["msg_type"] == "execute_result"]
        assert got == ["2"], msgs
    updated = value(kc, "[live.dashboard().updates, live.status]")
    assert updated[1] == "running"
    deadline = time.monotonic() + 60          # ... and the dashboard moves meanwhile
    while updated[0] <= before[0] + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        updated = value(kc, "[live.dashboard().updates, live.status]")
    assert updated[0] > before[0] + 2, (before, updated)
    run(kc, "live._stop_readers(); live.wait()", timeout=120)   # duration's normal end
    final = value(kc, "[live.status, live.dashboard()._final is not None, "
                      "len(live.dashboard().figure.data), "
                      "min(len(t.x) for t in live.dashboard().figure.data)]")
    assert final[:3] == ["finished", True, 6] and final[3] > 0, final
