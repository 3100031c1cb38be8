"""The quickstart in JupyterLab in Chromium: "Run All Cells", and the live dashboard renders
and moves.

Asserted: the chart has one throughput trace per stage, each with points above zero; the
values change between two screenshots; the placement view and the event log are drawn;
clicking the dashboard's "Stop run" button stops the run (the notebook's last cell then
prints its summary, "stopped"), and the dashboard stops updating. Screenshots and the
browser's console go to ``tests/artifacts/`` (``dashboard-live-15s.png`` is the README's
picture, ``data/screenshots/dashboard.png``).
"""

from __future__ import annotations

from .conftest import ARTIFACTS

NOTEBOOK = "notebooks/00_quickstart.ipynb"
STAGES = ["scale", "mean4", "running_sum"]

# the dashboard's plotly chart as drawn: rate traces (first y axis), summary, x range
CHART = """() => {
  const board = document.querySelector('.wb-dashboard');
  const gd = board && board.querySelector('.js-plotly-plot');
  if (!gd || !gd.data) return null;
  const arr = v => Array.from(v || []);
  return {
    rates: gd.data.filter(t => (t.yaxis || 'y') === 'y').map(t => ({
      name: t.name, n: arr(t.y).length, max: Math.max(0, ...arr(t.y)),
      xmax: Math.max(0, ...arr(t.x)), y: arr(t.y).slice(-5)})),
    traces: gd.data.length,
    range: gd.layout.xaxis.range,
    width: gd.getBoundingClientRect().width,
    summary: board.querySelector('.wb-summary')?.textContent || '',
  };
}"""
LIVE = f"""() => {{
  const c = ({CHART})();
  return c && /running/.test(c.summary) && c.rates.length > 0 &&
         c.rates.every(t => t.n > 1 && t.max > 0);
}}"""
STATUS_IDLE = """() => /\\|\\s*Idle/.test(
  document.querySelector('#jp-main-statusbar')?.textContent || '')"""


def wait_for(page, js: str, what: str, timeout_s: float) -> None:
    """Wait for ``js`` to be true; on timeout, a screenshot and what the dashboard said."""
    try:
        page.wait_for_function(js, timeout=timeout_s * 1000, polling=250)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError, reported with context
        page.screenshot(path=str(ARTIFACTS / "browser-failure.png"))
        chart = page.evaluate(CHART)
        raise AssertionError(
            f"{what}: not seen within {timeout_s:g} s. The dashboard's summary: "
            f"{chart and chart['summary']!r}; screenshot tests/artifacts/browser-failure.png"
        ) from None


def shot(page, name: str) -> bytes:
    page.evaluate("() => document.querySelector('.wb-dashboard')"
                  "?.closest('.jp-Cell')?.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    return page.screenshot(path=str(ARTIFACTS / name))


def run_menu(page, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def select_cell(page, text: str) -> None:
    """Select the code cell whose source contains ``text`` (a click on its prompt)."""
    cell = page.locator(".jp-Notebook .jp-CodeCell", has_text=text).first
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputPrompt").click()


def test_quickstart_dashboard_renders_live_in_chromium(lab, page):
    page.goto(lab.url(NOTEBOOK))
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    # "Run All Cells" before the kernel is connected is silently ignored: wait for Idle
    wait_for(page, STATUS_IDLE, "the kernel status 'Idle'", 180)
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.first.click()                        # fold the file browser away
    # every cell up to the live run's: the kernel is free while the run streams
    select_cell(page, "the kernel is free while the run goes on")
    run_menu(page, "Run All Above Selected Cell")

    wait_for(page, LIVE, "a running dashboard with a trace per stage", 300)
    first = page.evaluate(CHART)
    png1 = shot(page, "dashboard-live-1.png")
    wait_for(page, f"() => {{ const c = ({CHART})(); return c && c.rates[0].xmax > "
                   f"{first['rates'][0]['xmax']} + 1.5; }}", "the chart moving on", 60)
    second = page.evaluate(CHART)
    png2 = shot(page, "dashboard-live-2.png")

    # one trace per stage, each with points above zero
    assert [r["name"] for r in first["rates"]] == STAGES, first
    assert all(r["n"] > 1 and r["max"] > 0 for r in second["rates"]), second
    assert second["traces"] == 2 * len(STAGES)          # + latency, one per stage
    # the values change between the two screenshots
    assert second["rates"][0]["n"] > first["rates"][0]["n"]
    assert [r["y"] for r in second["rates"]] != [r["y"] for r in first["rates"]]
    assert png1 != png2
    assert second["width"] > 750, second                # sized to the output area
    placement = page.inner_text(".wb-dashboard .wb-placement")
    assert all(s in placement for s in STAGES) and "storage" in placement
    assert "spread" in placement and "sink" in placement
    assert "started" in page.inner_text(".wb-dashboard .wb-events")
    assert "Dask dashboard" in second["summary"]

    # a fuller minute for the README's picture (data/screenshots/dashboard.png)
    wait_for(page, f"() => ({CHART})()?.rates[0].xmax >= 15", "15 s of data", 120)
    shot(page, "dashboard-live-15s.png")

    # "Stop run" in the browser (the kernel is idle: the cells above have run): the run
    # stops, final picture, no more updates; the remaining cells then print its summary
    wait_for(page, STATUS_IDLE, "the cells above the live run ending", 120)
    button = page.locator(".wb-dashboard button", has_text="Stop run")
    assert button.is_enabled()
    button.click()
    wait_for(page, f"() => /stopped/.test(({CHART})()?.summary || '')",
             "the run stopping after the click", 120)
    assert page.locator(".wb-dashboard button", has_text="Stopped").is_disabled()
    select_cell(page, "the kernel is free while the run goes on")
    run_menu(page, "Run Selected Cell and All Below")
    wait_for(page, "() => /\\[dask\\] stopped/.test(document.querySelector("
                   "'.jp-Notebook .jp-Cell:last-child .jp-OutputArea')?.textContent || '')",
             "the notebook's last cell printing the summary", 120)
    final = page.evaluate(CHART)
    page.wait_for_timeout(1500)
    assert page.evaluate(CHART) == final                 # stopped updating
    assert all(r["n"] >= s["n"] for r, s in zip(final["rates"], second["rates"]))
    shot(page, "dashboard-final.png")
    outputs = page.inner_text(".jp-Notebook .jp-Cell:last-child .jp-OutputArea")
    assert "[dask] stopped" in outputs, outputs
