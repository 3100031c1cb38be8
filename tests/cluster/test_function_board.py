"""The function board's Python side on the real local cluster (real ipywidgets and plotly
objects, no frontend: the notebook tier runs it in a kernel)."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench.observe.widgets import PLOTLY_MIME, FunctionsBoard, wait_updates


def double(x):
    return x * 2


def halve(x):
    return x / 2


@pytest.fixture(scope="module", autouse=True)
def widgets_imported():
    """The first FigureWidget in a process imports plotly's widget stack (seconds)."""
    import plotly.graph_objects as go

    go.FigureWidget()


def rate_traces(board: FunctionsBoard) -> dict:
    return {t.name: np.asarray(t.y) for t in board.figure.data}


def test_board_follows_functions_and_stops_at_close(session):
    dbl = wb.function(double, placement="storage", name="board_double")
    board = wb.functions.dashboard(window=30.0)
    assert isinstance(board, FunctionsBoard) and board.session is session
    hlv = wb.function(halve, placement="auto", name="board_halve")   # defined after it opened
    for _ in range(3):
        assert dbl.map(np.arange(500.0)).result()[-1] == 998.0
        assert hlv.map(np.arange(500.0)).result()[-1] == 249.5
    copy = wb.function(halve, name="board_copy").with_placement("compute")   # not registered
    copy.map(np.arange(50.0)).result()
    assert wait_updates(board, 2) >= 2
    traces = rate_traces(board)
    assert {"board_double", "board_halve"} <= set(traces)
    assert len(traces) == len(set(traces)) == len({f.name for f in wb.functions.registry()})
    assert traces["board_double"].max() > 0 and traces["board_halve"].max() > 0
    # the calls the chart shows are the calls made (spread over their runs, in 0.5 s bins)
    assert traces["board_double"].sum() * 0.5 == pytest.approx(1500, rel=1e-6)
    rows = {r["name"]: r for r in board.rows}
    assert rows["board_double"]["calls"] == 1500 and rows["board_halve"]["calls"] == 1500
    assert rows["board_double"]["side"] == "storage"
    assert rows["board_copy"]["calls"] == 50 and rows["board_copy"]["side"] == "compute"
    assert rows["board_copy"]["placement"] == "compute"        # the copy that ran
    assert traces["board_copy"].sum() * 0.5 == pytest.approx(50, rel=1e-6)
    text = wb.functions.summary()            # %wb functions --text: the same versions
    assert "board_copy: placement 'compute', 50 calls" in text
    assert "board_double: placement 'storage', 1,500 calls" in text
    halve_last = hlv.decisions.iloc[-1]
    assert rows["board_halve"]["side"] == halve_last["side"]
    html = board.table.value
    for name in ("board_double", "board_halve"):
        assert f'data-function="{name}"' in html
    assert "placement hint &#x27;storage&#x27;" in html           # the hint's reason, escaped
    from html import escape

    assert escape(halve_last["reason"]) in html                     # auto's latest reason
    assert "functions live" in board.summary.value

    board.mode.value = True                                          # per side
    names = list(rate_traces(board))
    assert "board_double · storage" in names and "board_halve · compute" in names
    dashes = {t.name: t.line.dash for t in board.figure.data}
    assert dashes["board_double · storage"] == "solid"
    assert dashes["board_double · compute"] == "dot"
    board.mode.value = False

    board.close()
    assert board.closed and "closed" in board.summary.value
    board._thread.join(5.0)
    assert not board._thread.is_alive()
    frozen, ys = board.updates, rate_traces(board)
    dbl.map(np.arange(100.0)).result()
    board.refresh()                              # a closed board ignores refreshes too
    assert board.updates == frozen
    assert all(np.array_equal(ys[n], y) for n, y in rate_traces(board).items())
    fig = board._final[PLOTLY_MIME]
    assert {t["name"] for t in fig["data"]} == set(ys)
    assert all(isinstance(t["y"], list) for t in fig["data"])
    assert "latest decision: storage (hint)" in board._final["text/plain"]


def test_fn_dashboard_shows_one_function(session):
    fn = wb.function(double, placement="compute", name="board_one")
    board = fn.dashboard()
    try:
        fn.map(np.arange(200.0)).result()
        wait_updates(board, 2)
        assert list(rate_traces(board)) == ["board_one"]
        assert [r["name"] for r in board.rows] == ["board_one"]
        assert board.rows[0]["side"] == "compute" and board.rows[0]["calls"] == 200
        assert "placement hint &#x27;compute&#x27;" in board.table.value
    finally:
        board.close()


def test_board_stops_when_its_session_closes(session):
    """A second session on the same scheduler (closing it leaves the shared one open and
    current again)."""
    other = wb.cluster(session.client.scheduler.address)
    try:
        fn = wb.function(double, placement="compute", name="board_session")
        fn.map(np.arange(10.0)).result()
        board = fn.dashboard()
        assert board.session is other
        wait_updates(board, 1)
        assert board.rows[0]["calls"] == 10
    finally:
        other.close()
    assert wb.cluster() is session
    board._thread.join(10.0)
    assert not board._thread.is_alive() and board.closed
    assert "closed" in board.summary.value and board.rows[0]["calls"] == 10
