"""The dashboard opened in headless Chromium (Debian's package, driven by ChromeDriver):
it renders, the four KPIs show the seeded history's values, the charts are drawn, the
findings table sorts, and no injected script runs. The screenshot is kept in
tests/artifacts/dashboard.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.services import CHROMIUM_ENV, require
from tests.store.seed import HOSTILE_SID, HOSTILE_TAG

from .conftest import ARTIFACTS
from .webdriver import Browser, browser

CHROMEDRIVER_ENV = "KMSGUARD_TEST_CHROMEDRIVER"


@pytest.fixture
def page(dashboard: Path) -> Browser:
    chromium = require(CHROMIUM_ENV, "Chromium")
    driver = require(CHROMEDRIVER_ENV, "ChromeDriver")
    with browser(chromium, driver) as b:
        b.open(dashboard.as_uri())
        yield b  # type: ignore[misc]


_CANVAS_INKED = """
const canvas = document.getElementById(arguments[0]);
const chart = Chart.getChart(canvas);
const ctx = canvas.getContext("2d");
const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
let inked = 0;
for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) { inked++; } }
return {chart: !!chart, points: chart ? chart.data.datasets[0].data.length : 0, inked: inked,
        width: canvas.width};
"""

_FIRST_COLUMN = """
return Array.from(document.querySelectorAll("#findings tbody tr"))
  .map(r => r.cells[arguments[0]].getAttribute("data-sort"));
"""


def test_dashboard_in_chromium(page: Browser, dashboard: Path) -> None:
    # the four KPIs of the seeded history
    assert page.text("#kpi-public .value") == "1"
    assert page.text("#kpi-mttr .value") == "10.6 h"
    assert "median 4.0 h" in page.text("#kpi-mttr .detail")
    assert "p90 40.0 h" in page.text("#kpi-mttr .detail")
    assert page.text("#kpi-owner .value") == "60%"
    assert page.text("#kpi-blocked .value") == "2"
    # charts drawn by Chart.js: an instance per canvas, data, and ink on the canvas
    for canvas in ("chart-exposure", "chart-owner", "chart-blocked"):
        drawn = page.run(_CANVAS_INKED, canvas)
        assert drawn["chart"], canvas
        assert drawn["points"] > 0, canvas
        assert drawn["width"] > 0, canvas
        assert drawn["inked"] > 500, canvas
    # the findings table sorts by severity, then by first seen, both ways
    assert page.run(_FIRST_COLUMN, 0) == ["5", "5", "4"]
    page.click("#findings thead th:nth-child(1) button")
    assert page.run("return document.querySelector('#findings th').ariaSort") == "ascending"
    assert page.run(_FIRST_COLUMN, 0) == ["4", "5", "5"]
    page.click("#findings thead th:nth-child(1) button")
    assert page.run(_FIRST_COLUMN, 0) == ["5", "5", "4"]
    page.click("#findings thead th:nth-child(3) button")
    where = page.run(_FIRST_COLUMN, 2)
    assert where == sorted(where, key=str.lower) or where == sorted(where)
    # hostile values are shown as text and never run
    assert page.run("return window.__pwned === undefined")
    body = page.run("return document.body.innerText")
    assert HOSTILE_TAG in body
    assert HOSTILE_SID in body
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(ARTIFACTS / "dashboard.png")
    shutil.copy(dashboard, ARTIFACTS / "dashboard.html")
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
