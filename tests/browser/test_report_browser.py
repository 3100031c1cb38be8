"""``workbench experiment report`` in Chromium: the page opens from disk without a network
and every experiment's figures are drawn (plotly's SVG), one section per notebook.

The runs are the notebooks tier's (``tests/conftest.py`` runs each notebook once per
session; the browser tier runs last), or made here when this tier runs on its own.
"""

from __future__ import annotations

from tests.conftest import RESULTS, experiment_run
from workbench.experiments.report import build
from workbench.experiments.runs import notebooks

from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, ROOT

DRAWN = """() => Array.from(document.querySelectorAll('.figure')).map(f => ({
  experiment: f.dataset.experiment, figure: f.dataset.figure,
  svg: f.querySelectorAll('.main-svg').length,
  marks: f.querySelectorAll('.trace, .point, path.js-line, .bars path').length}))"""


def test_report_draws_every_experiments_figures_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    names = [p.stem for p in notebooks(ROOT)]
    for name in names:
        experiment_run(name)
    page_path = build(RESULTS, tmp_path / "report.html")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("http*://**", lambda route: route.abort())     # nothing from a network
            page.goto(page_path.as_uri())
            page.wait_for_function(f"() => ({DRAWN})().every(f => f.svg > 0)", timeout=60_000)
            figures = page.evaluate(DRAWN)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "experiment-report.png"), full_page=False)
            sections = page.evaluate("() => Array.from(document.querySelectorAll('section'))"
                                     ".map(s => s.id)")
        finally:
            browser.close()
    assert sections == sorted(names)
    assert {f["experiment"] for f in figures} == set(names), figures
    assert all(f["svg"] > 0 and f["marks"] > 0 for f in figures), figures
