"""The dashboard's Python side on real runs (real cluster, real ipywidgets and plotly
objects; no kernel here: the kernel and the browser have their own tiers)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import workbench as wb
from workbench.examples.quickstart import mean4, running_sum, scale
from workbench.observe.widgets import PLOTLY_MIME, Dashboard, in_kernel, show, wait_updates

from .ops import explode_late

POOL = np.random.default_rng(3).random(16 * 4096)


def replay(i):
    k = i % 16
    return POOL[k * 4096:(k + 1) * 4096]


def program():
    return wb.sources.generator(replay) >> scale >> mean4 >> running_sum


SPLIT = {"placement": {"running_sum": "storage"}, "parallelism": {"scale": 2}}


@pytest.fixture(scope="module", autouse=True)
def widgets_imported():
    """The first FigureWidget in a process imports plotly's widget stack (seconds)."""
    import plotly.graph_objects as go

    go.FigureWidget()


def rate_traces(fig) -> dict:
    return {t.name: t for t in fig.data if t.yaxis in (None, "y")}


def test_dashboard_follows_a_run_and_keeps_the_final_picture(session):
    run = program().run(duration=600.0, sink="discard", session=session, **SPLIT)
    board = run.dashboard()
    assert run.dashboard() is board                      # one per run
    assert wait_updates(board, 3, timeout=60) >= 3        # it moves on its own ...
    assert not run.done                                   # ... while the run goes on
    while not all(len(t.x) for t in rate_traces(board.figure).values()):
        assert wait_updates(board, 1, timeout=60) >= 1    # until every stage has a point
    grown = {n: len(t.x) for n, t in rate_traces(board.figure).items()}
    run._stop_readers()                                   # what duration= does at its end
    run.wait(timeout=60)
    final = board.updates
    time.sleep(0.6)
    assert board.updates == final                         # ended: no more updates
    traces = rate_traces(board.figure)
    assert list(traces) == ["scale", "mean4", "running_sum"]
    assert all(len(t.x) >= grown[n] and max(t.y) > 0 for n, t in traces.items())
    assert run.status == "finished"
    assert "finished" in board.summary.value and "streaming" in board.summary.value
    assert "spread &times;2" in board.placement.value and "storage" in board.placement.value
    assert "finished" in board.events.value and "epoch" in board.events.value
    assert board.stop_button.disabled
    bundle = board._final
    fig = bundle[PLOTLY_MIME]
    rates = [t for t in fig["data"] if t.get("yaxis", "y") == "y"]
    assert [t["name"] for t in rates] == ["scale", "mean4", "running_sum"]
    assert all(isinstance(t["y"], list) and max(t["y"]) > 0 for t in rates)
    assert fig["layout"]["title"]["text"].startswith("run [dask] finished")
    assert "unit 2 [direct x1] running_sum" in bundle["text/plain"]
    # records in the summary are the run's exact count
    assert f"{run.source_records / 1e6:,.1f} M records" in board.summary.value


def test_per_instance_traces_and_the_stop_button(session):
    run = program().run(sink="discard", session=session, **SPLIT)     # unbounded
    board = run.dashboard()
    wait_updates(board, 2)
    board.mode.value = True
    names = list(rate_traces(board.figure))
    scale_workers = run.plan.units[0].workers
    assert names[:2] == [f"scale #{i} @ :{w.rsplit(':', 1)[1]}"
                         for i, w in enumerate(scale_workers)]
    assert len(names) == len(scale_workers) + 2
    board._on_stop(board.stop_button)          # what clicking "Stop run" does
    run.wait(timeout=60)
    assert run.status == "stopped"
    assert board._final is not None and board.stop_button.description == "Stopped"
    board.mode.value = False
    assert list(rate_traces(board.figure)) == ["scale", "mean4", "running_sum"]


def test_a_failure_shows_the_operators_message(session):
    data = np.sort(np.random.default_rng(0).random(200_000))
    prog = wb.sources.array(data, batch_size=1000) >> scale >> explode_late
    run = prog.run(session=session)
    board = run.dashboard()
    try:
        run.wait(timeout=120)
    except wb.OperatorError:
        pass
    assert run.status == "failed"
    assert "failed" in board.summary.value
    assert "record too large" in board.events.value and "explode_late" in board.events.value
    assert "failed" in board._final["text/plain"]


def test_a_finished_run_and_the_local_engine(session):
    run = program().run(batches=40, session=session).wait()
    board = Dashboard(run)                       # built after the end: final at once
    assert board._final is not None and not hasattr(board, "_thread")
    local = program().run(engine="local", batches=400, sink="discard")
    lboard = local.dashboard()
    local.wait()
    assert lboard._final is not None
    assert "this process" in lboard.placement.value
    assert list(rate_traces(lboard.figure)) == ["scale", "mean4", "running_sum"]
    title = lboard._final[PLOTLY_MIME]["layout"]["title"]["text"]
    assert title.startswith("run [local] finished · 1.6 M records")  # 400 x 4096
    assert "fused" in lboard.placement.value      # the three run as one compiled function


def test_metric_rows_read_incrementally(session):
    run = program().run(duration=1.5, sink="discard", session=session)
    seen, n = [], 0
    while not run.done:
        new = run.metric_rows(n)
        n += len(new)
        seen += new
        time.sleep(0.1)
    assert n > 0 and len(run.metrics) >= n
    assert run.event_rows()[0][1] in ("compiled", "started")
    assert len(run.event_rows(1)) == len(run.events) - 1


def test_widget_is_quiet_outside_a_kernel(session):
    assert not in_kernel()
    run = program().run(batches=8, session=session, widget=True).wait()
    assert run._dashboard is None and show(run) is None


def test_the_controls_reconfigure_the_run_and_the_views_follow(session):
    run = program().run(duration=600.0, sink="discard", session=session)
    board = run.dashboard()
    assert wait_updates(board, 2, timeout=60) >= 2
    count, where = board._rows["scale"]
    assert count.value == 1 and where.value is None
    assert board._on_apply() is None and "nothing to change" in board.answer.value
    count.value = 2
    board._rows["running_sum"][1].value = "storage"
    rc = board._on_apply()
    assert rc is not None and "Reconfiguration" in board.answer.value
    rc.wait(60)
    assert wait_updates(board, 3, timeout=60) >= 3
    units = board.layout.units                          # the new plan's units
    assert units[0].stages == ("scale",) and units[0].parallelism == 2
    assert units[-1].stages == ("running_sum",) and board.layout.resources[
        units[-1].workers[0]] == "storage"
    assert "running_sum" in board.placement.value
    assert board._rows["scale"][0].value == 2          # the controls show the new plan
    shapes = board.figure.layout.shapes
    assert len(shapes) == 1 and shapes[0].x0 == pytest.approx(
        [t for t, _ in board._marks][0])
    assert any("switched at batch" in (a.text or "") for a in board.figure.layout.annotations)
    board._rows["running_sum"][0].value = 2            # a stateful stage: refused, runs on
    assert board._on_apply() is None and "running_sum" in board.answer.value
    assert run.status == "running"
    run._stop_readers()
    run.wait(timeout=60)
    assert board.apply_button.disabled
    static = board.static()[PLOTLY_MIME]
    assert len(static["layout"]["shapes"]) == 1
