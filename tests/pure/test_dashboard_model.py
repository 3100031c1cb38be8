"""What the dashboard shows, decided without widgets, kernels or a cluster."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.model.fusion import plan_segments
from workbench.observe import html as H
from workbench.observe import run_view as M
from workbench.placement import place

W = {"tcp://127.0.0.1:1": {"compute": 1}, "tcp://127.0.0.1:2": {"compute": 1},
     "tcp://127.0.0.1:3": {"storage": 1}}
C1, C2, S1 = sorted(W)


def op(name, **kw):
    return wb.operator(lambda x, *s: x, name=name, **kw)


a, b, c = op("a"), op("b"), op("c")
k = op("k", state=np.zeros(1), key=lambda x: x.astype(np.int64), key_groups=8)
src = wb.sources.array(np.zeros(64), batch_size=16)


def split_layout():
    plan = place(src >> a >> b >> c, W, {"c": "storage"}, {"a": 2})
    return M.layout(plan, "dask", W, credits=8, source="array")


def row(t, stage, worker, records=0, latency=math.nan, batches=0, queue=0, instance=None):
    """A metric row (the columns of run.metrics); the instance follows the worker."""
    inst = sorted(W).index(worker) if instance is None and worker in W else (instance or 0)
    return (t, stage, stage, inst, worker, records, records, records / 0.25, batches,
            latency, queue)


def chan(t, name, instance, in_flight, peak=None):
    """A channel row (the columns of run.channels)."""
    return (t, name, instance, "w", 1, 10, in_flight, in_flight if peak is None else peak)


def test_layout_follows_the_plan_left_to_right():
    lay = split_layout()
    assert [(u.name, u.routing, u.parallelism) for u in lay.units] == [
        ("a", "spread", 2), ("b", "direct", 1), ("c", "direct", 1)]
    assert lay.stages == ("a", "b", "c")
    assert lay.edge(0) == "a -> b" and lay.edge(2) is None
    assert lay.source_stage == "source"
    assert lay.resources[S1] == "storage"
    assert [lay.has_inbox(u) for u in lay.units] == [False, True, True]
    assert "c: hint 'storage'" in lay.unit_reasons(lay.units[2])


def test_fused_segments_keep_one_stage_per_operator_and_keyed_sources():
    lay = M.layout(place(src >> a >> b, W), "dask", W)
    assert lay.stages == ("a", "b") and lay.units[0].segments == ("a+b",)
    keyed = M.layout(place(src >> k >> a, W, parallelism={"k": 2}), "dask", W)
    assert keyed.units[0].name == "source" and keyed.units[0].segments == ()
    assert keyed.stages == ("k", "a") and keyed.edge(0) == "source -> k"


def test_local_engine_is_one_unit_in_this_process():
    lay = M.layout(plan_segments(src >> a >> b), "local")
    assert len(lay.units) == 1 and lay.units[0].workers == ("local",)
    assert lay.stages == ("a", "b") and lay.units[0].segments == ("a+b",)
    assert "this process" in H.placement_html(lay, M.queues([], [], lay))


def test_instances_are_summed_per_bin_or_kept_apart():
    rows = [row(0.2, "a", C1, 100, 1.0, 2), row(0.3, "a", C2, 300, 3.0, 2),
            row(0.7, "a", C1, 200, 2.0, 4), row(0.7, "b", C1, 50, 0.5, 1),
            row(0.8, "source", C1, 400)]
    s = M.binned(rows, ("a", "b"), 0.5)
    assert list(s) == [("a", "all"), ("b", "all")]
    assert s[("a", "all")].t.tolist() == [0.5, 1.0]
    assert s[("a", "all")].records_per_s.tolist() == [800.0, 400.0]
    assert s[("a", "all")].latency_ms.tolist() == [2.0, 2.0]     # batch-weighted
    per = M.binned(rows, ("a", "b"), 0.5, per_instance=True)
    assert list(per) == [("a", "#0"), ("a", "#1"), ("b", "#0")]
    assert per[("a", "#1")].records_per_s.tolist() == [600.0]
    # two instances on one worker stay apart: they are told apart by instance, not worker
    same = [row(0.2, "a", C1, 100, instance=0), row(0.2, "a", C1, 300, instance=1)]
    assert set(M.binned(same, ("a",), 0.5, per_instance=True)) == {("a", "#0"), ("a", "#1")}
    assert M.binned(rows, ("a",), 0.5, until=0.5)[("a", "all")].t.tolist() == [0.5]
    assert M.binned(rows, ("a",), 0.5, since=0.5)[("a", "all")].t.tolist() == [1.0]
    assert M.binned([], ("a",)) == {}
    # a DataFrame (run.metrics) gives the same as the raw tuples
    df = pd.DataFrame(rows, columns=M.COLUMNS)
    assert M.binned(df, ("a",), 0.5)[("a", "all")].t.tolist() == [0.5, 1.0]


def test_no_records_means_no_latency_not_zero():
    s = M.binned([row(0.2, "a", C1, 0, math.nan, 0)], ("a",), 0.5)
    assert s[("a", "all")].records_per_s.tolist() == [0.0]
    assert np.isnan(s[("a", "all")].latency_ms[0])


def test_horizon_waits_for_the_slowest_active_series():
    rows = [row(1.0, "a", C1), row(1.4, "a", C2), row(1.2, "b", C1), row(0.1, "gone", C1)]
    assert M.horizon(rows, live=True) == 1.0          # "gone" stopped reporting: ignored
    assert M.horizon(rows, live=False) == math.inf
    assert M.horizon([], live=True) == 0.0


def test_summary_totals_rate_now_and_text():
    lay = split_layout()
    rows = [row(t, "source", w, 1000) for t in (0.25, 0.5, 0.75, 1.0) for w in (C1, C2)]
    rows += [row(1.0, "sink", S1, 500)]
    assert M.totals(rows, lay) == (8000, 500)
    s = M.summarize(rows, lay, status="running", elapsed=2.0, records=8000, out=500)
    assert s.now_per_s == 8000.0 and s.avg_per_s == 4000.0
    text = H.summary_text("live", "dask", s, "http://127.0.0.1:8787/status")
    assert text.startswith("live [dask] running · 8,000 records · now 8.0 k/s")
    assert "Dask dashboard http://127.0.0.1:8787/status" in text
    done = M.summarize(rows, lay, status="finished", elapsed=2.0, records=8000, out=500,
                       live=False, streaming_per_s=5000.0)
    assert done.now_per_s == 0.0
    html = H.summary_html("live", "dask", done, "http://x/status")
    assert "finished" in html and "streaming 5.0 k/s" in html and 'href="http://x/status"' in html
    assert "now" not in H.summary_text("live", "dask", done)


def test_queues_take_the_recent_peak_per_inbox_and_channel():
    lay = split_layout()
    rows = [row(0.5, "b", C1, queue=20), row(2.0, "b", C1, queue=12),
            row(2.2, "c", S1, queue=1, instance=0), row(2.2, "a", C2, queue=7)]
    chans = [chan(0.5, "a -> b", 0, 8), chan(2.0, "a -> b", 0, 3, peak=4),
             chan(2.1, "a -> b", 1, 5), chan(2.2, "b -> c", 0, 1)]
    q = M.queues(rows, chans, lay)
    assert q.inbox == {1: {0: 12}, 2: {0: 1}}       # the 20 is older than a second; a has
    assert q.flight == {"a -> b": 5, "b -> c": 1}   # no inbox; the 8 is too old


def test_placement_graph_reads_left_to_right():
    lay = split_layout()
    q = M.Queues(inbox={1: {0: 12}}, flight={"a -> b": 3})
    html = H.placement_html(lay, q, "collect", 1234)
    order = [html.index(x) for x in ("source", "unit 0", "unit 1", "unit 2", "sink")]
    assert order == sorted(order)
    assert "spread &times;2" in html and ":1 compute" in html and ":3 storage" in html
    assert "▮▮▮▮▮▮▯▯ 12" in html                    # b's inbox: 12 of 2 senders x 8 credits
    assert "▮▮▮▯▯▯▯▯ 3" in html                     # a -> b in flight, 8 credits
    assert "1,234 records" in html
    assert "unit 2 [direct x1] c on tcp://127.0.0.1:3 (storage)" in H.placement_text(lay)


def test_split_joins_are_drawn_as_branches():
    fan = src >> a >> wb.splitjoin(b, c)
    lay = M.layout(place(fan, W), "dask", W)
    html = H.placement_html(lay, M.queues([], [], lay))
    assert "split-join" in html and html.index(">b<") < html.index(">c<")


def test_event_log_folds_epochs_and_shows_failures_first():
    log = M.EventLog(keep=3)
    log.feed([(0.0, "compiled", "", "3 segments"), (0.1, "started", "", "go\nplan")])
    log.feed([(0.5 + i / 10, "epoch", "", f"epoch {i} complete") for i in range(20)])
    log.feed([(3.0, "failed", "b", "operator 'b' failed at batch 7: ValueError: bad")])
    rows = log.latest()
    assert [r["kind"] for r in rows] == ["failed", "epoch", "started", "compiled"]
    assert rows[1]["line"] == "epoch 19 complete (20 epochs since 0.50 s)"
    assert rows[2]["line"] == "go" and rows[2]["text"] == "go\nplan"
    assert log.read == 23
    html = H.events_html(rows, "OperatorError: operator 'b' failed <at> batch 7")
    assert html.index("&lt;at&gt;") < html.index("compiled")      # escaped, on top
    assert "failed" in H.events_text(rows)
    assert "no events yet" in H.events_html([])


def test_tracker_reads_only_new_rows_and_keeps_a_window():
    lay = split_layout()
    tr = M.Tracker(lay, keep_s=5.0)
    batch = [row(t / 4, s, C1, 10) for t in range(200) for s in ("source", "sink")]
    assert tr.feed(batch[:100]) == 100 and tr.read == 100
    assert tr.feed([]) == 0
    tr.feed(batch[100:], [chan(49.0, "a -> b", 0, 2)])
    assert tr.read_channels == 1 and tr.channels() == [chan(49.0, "a -> b", 0, 2)]
    assert (tr.records, tr.out) == (2000, 2000)       # totals over everything fed
    kept = tr.rows()
    assert kept.time.min() >= tr.t_max - 5.0 - 10.0 and len(kept) < 400
    assert tr.rows() is kept                           # cached until new rows arrive


@pytest.mark.parametrize("n,expected", [(0, "0"), (999, "999"), (1e6, "1.0 M"),
                                        (2.5e9, "2.5 G")])
def test_count_format(n, expected):
    assert H.fmt_count(n) == expected
