"""KPI arithmetic on a seeded history with known intervals (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsguard.store import History, open_database
from kmsguard.store.kpis import compute, kpis_json, percentile_nearest_rank

from .seed import A1, A2, at, seed


def test_the_four_kpis(db_url: str, tmp_path: Path) -> None:
    h = History(open_database(db_url))
    seed(h, tmp_path)
    k = compute(h, now=at(50))
    # 1. public keys now (k5) and cross-account; the trend follows scans and events
    assert (k.public_now, k.cross_account_now) == (1, 1)
    trend = {p.at: p.public for p in k.exposure_trend}
    assert trend[at(0)] == 5
    assert trend[at(1)] == 5  # the incomplete scan changed nothing
    assert trend[at(2)] == 4
    assert trend[at(10)] == 3  # k4, k5 and the monitor's k6
    assert trend[at(11)] == 2
    assert trend[at(40)] == 1
    # 2. MTTR over 1, 2, 4, 6, 40 hours
    assert k.mttr.count == 5
    assert k.mttr.mean_hours == pytest.approx(53 / 5)
    assert k.mttr.median_hours == 4
    assert k.mttr.p90_hours == 40
    assert k.mttr.open_critical == 1
    # 3. owner tags: 3 of 5 customer keys with readable tags (AWS managed excluded)
    assert k.owner_now is not None
    assert (k.owner_now.with_owner, k.owner_now.customer_keys) == (3, 5)
    assert k.owner_now.share == 0.6
    assert sorted(k.unowned_keys) == [A1, A2]
    # 4. blocked before deployment: two distinct misconfigurations, three gate failures
    assert (k.blocked.misconfigurations, k.blocked.gate_failures) == (2, 3)
    assert [n for _, n in k.blocked.trend] == [1, 1, 2]
    report = kpis_json(k)
    assert report["kpis"]["mttr_critical_hours"]["median"] == 4  # type: ignore[index]
    # k5, the cross-account key, and the template resource blocked last
    assert len(report["open_findings"]) == 3  # type: ignore[arg-type]
    h.engine.dispose()


def test_since_limits_trends_resolutions_and_blocks(db_url: str, tmp_path: Path) -> None:
    h = History(open_database(db_url))
    seed(h, tmp_path)
    k = compute(h, now=at(50), since=at(5))
    assert k.mttr.count == 3  # resolved at 6, 11 and 40 h
    assert k.mttr.median_hours == 6
    assert min(p.at for p in k.exposure_trend) >= at(5)
    assert (k.blocked.misconfigurations, k.blocked.gate_failures) == (2, 2)
    assert k.public_now == 1  # "now" does not depend on the window
    h.engine.dispose()


def test_empty_history(db_url: str) -> None:
    h = History(open_database(db_url))
    k = compute(h, now=at(0))
    assert (k.public_now, k.mttr.count, k.mttr.mean_hours, k.owner_now) == (0, 0, None, None)
    assert kpis_json(k)["kpis"]["owner_tag_share"]["share"] is None  # type: ignore[index]
    h.engine.dispose()


@pytest.mark.parametrize(
    ("values", "p90"), [([1.0], 1.0), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 9), ([5, 1, 3], 5)]
)
def test_nearest_rank_percentile(values: list[float], p90: float) -> None:
    assert percentile_nearest_rank(values, 90) == p90
