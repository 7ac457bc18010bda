"""The dashboard file itself: one self-contained page, every store value escaped."""

from __future__ import annotations

import hashlib
import html
import json
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from kmsguard.report import dashboard as dash
from tests.store.seed import HOSTILE_SID, HOSTILE_TAG, HOSTILE_WITNESS


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.attrs_with_urls: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._in = True
            self.scripts.append("")
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.attrs_with_urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.scripts[-1] += data


def test_one_file_no_network_and_exactly_three_scripts(dashboard: Path) -> None:
    page = dashboard.read_text(encoding="utf-8")
    parser = _Scripts()
    parser.feed(page)
    assert len(parser.scripts) == 3  # data (JSON), Chart.js, the page
    assert parser.attrs_with_urls == []  # no src=, no href=: nothing to fetch
    assert "Chart.js v4" in parser.scripts[1]
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    for script in parser.scripts[1:]:
        assert dash._csp_hash(script) in html.unescape(csp.group(1))


def test_hostile_values_are_text(dashboard: Path, report: dict[str, object]) -> None:
    page = dashboard.read_text(encoding="utf-8")
    for hostile in (HOSTILE_TAG, HOSTILE_SID, HOSTILE_WITNESS):
        assert hostile not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;window.__pwned = 2&quot;&gt;" in page
    parser = _Scripts()
    parser.feed(page)
    data = json.loads(parser.scripts[0])
    assert set(data) == {"exposure", "owner", "blocked"}


def test_vendored_chart_js_matches_its_recorded_hash() -> None:
    assets = resources.files("kmsguard.report").joinpath("assets")
    meta = json.loads(assets.joinpath("chart.js.json").read_text("utf-8"))
    digest = hashlib.sha256(assets.joinpath(meta["file"]).read_bytes()).hexdigest()
    assert digest == meta["sha256"]
    assert "MIT" in assets.joinpath(meta["license_file"]).read_text("utf-8")
    assert dash.chart_js().startswith("/*!\n * Chart.js v" + meta["version"])


def test_script_json_cannot_end_its_element() -> None:
    text = dash._script_json({"x": "</script><b>&"})
    assert "<" not in text
    assert ">" not in text
    assert json.loads(text) == {"x": "</script><b>&"}


@pytest.mark.parametrize("value", [None, 0, "a&b"])
def test_escape(value: object) -> None:
    assert "&" not in dash._e(value).replace("&amp;", "")
