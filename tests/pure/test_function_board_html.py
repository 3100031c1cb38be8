"""The function board's pure parts: the table HTML and the calls/s series."""

from __future__ import annotations

import pytest

from workbench.functions.view import rows_text
from workbench.observe.function_view import name_of, rate_series, scaling_series
from workbench.observe.html import functions_html, functions_summary_html, scaling_html


def row(name, **kw):
    r = {"name": name, "placement": "auto", "calls": 0, "calls_per_s": 0.0,
         "calls_per_s_overall": 0.0, "side": None, "phase": None, "reason": None,
         "est_storage_s": None, "est_compute_s": None, "jit": None, "jit_reason": None,
         "errors": 0, "calls_by_side": {}}
    r.update(kw)
    return r


ROWS = [
    row("khop", calls=1200, calls_per_s_overall=300.0, side="storage", phase="exploit",
        reason="storage 12.0 ms < compute 48.0 ms: reads 2 MB <remote> & \"quoted\"",
        est_storage_s=0.012, est_compute_s=0.048, jit=True,
        calls_by_side={"storage": 1100, "compute": 100}),
    row("simulate", placement={"compute": 1}, calls=64, side="compute", phase="explore",
        reason="probe <both> sides", est_storage_s=float("nan"), est_compute_s=2.5,
        jit=False, jit_reason="numba cannot type <json>", errors=2,
        calls_by_side={"storage": 0, "compute": 64}),
    row("fresh", placement="tcp://127.0.0.1:40123"),
]


def test_table_has_a_row_per_function_with_its_decision_and_reason():
    html = functions_html(ROWS, now={"khop": 250.0})
    for name in ("khop", "simulate", "fresh"):
        assert f'data-function="{name}"' in html
    khop = html.split('data-function="khop"')[1].split("</tr>")[0]
    assert ">storage</b>" in khop and "(exploit)" in khop
    assert "12.0 ms" in khop and "48.0 ms" in khop
    assert "1,200" in khop and "250 /s" in khop and "300 /s" in khop   # now from the board
    assert "storage 1,100" in khop and "compute 100" in khop and "numba" in khop
    sim = html.split('data-function="simulate"')[1].split("</tr>")[0]
    assert ">compute</b>" in sim and "(explore)" in sim and "2.50 s" in sim
    assert "compute:1" in sim and "storage 0" not in sim          # sides with no calls
    assert "Python" in sim and 'title="numba cannot type &lt;json&gt;"' in sim
    assert '<span style="color:#c62828">2</span>' in sim
    fresh = html.split('data-function="fresh"')[1].split("</tr>")[0]
    assert ":40123" in fresh and "&ndash;" in fresh and "not run yet" in fresh


def test_reason_text_is_escaped():
    html = functions_html(ROWS)
    assert ("reads 2 MB &lt;remote&gt; &amp; &quot;quoted&quot;" in html
            or "reads 2 MB &lt;remote&gt; &amp; \"quoted\"" in html)
    assert "<remote>" not in html and "<both>" not in html and "<json>" not in html
    evil = functions_html([row("<script>x</script>", reason="</td></tr><b>")])
    assert "<script>" not in evil and "</td></tr><b>" not in evil
    assert "&lt;script&gt;" in evil


def test_empty_table_and_summary():
    assert "no functions defined yet" in functions_html([])
    head = functions_summary_html(2, 1264, 42.0, "live", "http://127.0.0.1:8787/status")
    assert "functions live" in head and "2 function(s)" in head and "1,264 calls" in head
    assert "now 42 /s" in head and 'href="http://127.0.0.1:8787/status"' in head
    assert "functions closed" in functions_summary_html(0, 0, 0.0, "closed")


def test_text_of_rows():
    text = rows_text([{**r, "calls_per_s": 0.0} for r in ROWS])
    assert "latest decision: storage (exploit): storage 12.0 ms" in text
    assert "why plain Python: numba cannot type <json>" in text


def test_rate_series_spreads_calls_over_their_run():
    entries = [(3.0, "a", 100, "storage", 2.0),     # 100 calls over [1, 3]
               (3.2, "b", 10, "compute", 0.0),      # at once, at 3.2
               (9.0, "a", 5, "compute", 0.25)]      # after the window
    x, s = rate_series(entries, 0.0, 4.0, 0.5)
    assert x == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert s[("a", "all")] == [0, 0, 50, 50, 50, 50, 0, 0]
    assert s[("b", "all")] == [0, 0, 0, 0, 0, 0, 20, 0]
    assert sum(s[("a", "all")]) * 0.5 == 100                # every call counted once
    x, s = rate_series(entries, 2.0, 4.0, 0.5, per_side=True)
    assert s[("a", "storage")] == [50, 50, 0, 0]            # the half inside the window
    assert s[("a", "compute")] == [0, 0, 0, 0] and s[("b", "compute")][2] == 20


@pytest.mark.parametrize("token,name", [("f-0123456789", "f"), ("k-hop-abcdef0123", "k-hop")])
def test_name_of_token(token, name):
    assert name_of(token) == name


def scaling(**kw):
    st = {"policy": "forecast", "minimum": 1, "maximum": 4, "slo_ms": 250.0, "asked": 3,
          "present": 2, "start_s": 1.84, "rate": 30.5, "forecast": 36.0, "p99_ms": 120.0,
          "over_slo": 0.0, "running": True, "intervals": 9}
    st.update(kw)
    return st


def test_scaling_line_says_workers_forecast_and_latency_against_the_slo():
    html = scaling_html(scaling())
    assert "scaling forecast" in html and "1-4 compute workers" in html
    assert "asked 3, present 2" in html and "worker start 1.8 s" in html
    assert "arrivals 30 /s (forecast 36 /s)" in html
    assert '<span style="color:#2e7d32">120 ms</span> vs SLO 250 ms, 0% over' in html
    hot = scaling_html(scaling(p99_ms=900.0, over_slo=0.25, running=False))
    assert '<span style="color:#c62828">900 ms</span>' in hot and "25% over" in hot
    assert "■" in hot and "●" not in hot                        # stopped
    # reactive: no forecast; nothing finished yet: no p99; never a "nan"
    quiet = scaling_html(scaling(policy="<reactive>", forecast=float("nan"),
                                 p99_ms=float("nan"), over_slo=float("nan"), start_s=None))
    assert "forecast" not in quiet and "p99" not in quiet and "nan" not in quiet
    assert "SLO 250 ms" in quiet and "&lt;reactive&gt;" in quiet


def test_scaling_series_maps_the_history_onto_the_board_clock():
    rows = [{"time": 0.5, "rate": 4.0, "forecast": float("nan"), "asked": 1, "present": 1,
             "p99_ms": float("nan")},
            {"time": 1.0, "error": "statsmodels failed"},
            {"time": 1.5, "rate": 8.0, "forecast": 9.0, "asked": 2, "present": 1,
             "p99_ms": 80.0},
            {"time": 90.0, "rate": 1.0, "asked": 1, "present": 1}]
    s = scaling_series(rows, shift=3.0, t0=0.0, t1=60.0)
    assert s["time"] == [3.5, 4.5] and s["rate"] == [4.0, 8.0]
    assert s["asked"] == [1.0, 2.0] and s["present"] == [1.0, 1.0]
    assert s["forecast"][1] == 9.0 and s["p99_ms"][1] == 80.0
    assert scaling_series(rows, shift=-10.0, t0=0.0, t1=60.0)["time"] == []
