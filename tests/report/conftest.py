"""A seeded history (the one the KPI tests check) rendered as the HTML dashboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsguard.report.dashboard import render_dashboard
from kmsguard.store import History, open_database
from kmsguard.store.kpis import compute, kpis_json
from tests.store.seed import at, seed

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture
def report(tmp_path: Path) -> dict[str, object]:
    history = History(open_database(f"sqlite:///{tmp_path / 'h.db'}"))
    seed(history, tmp_path)
    try:
        return kpis_json(compute(history, now=at(50)))
    finally:
        history.engine.dispose()


@pytest.fixture
def dashboard(report: dict[str, object], tmp_path: Path) -> Path:
    path = tmp_path / "dashboard.html"
    path.write_text(render_dashboard(report), encoding="utf-8")
    return path
