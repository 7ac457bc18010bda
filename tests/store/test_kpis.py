"""KPI arithmetic on a seeded history with known intervals (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsguard import rules
from kmsguard.model import Severity, Verdict
from kmsguard.store import History, RunKind, open_database
from kmsguard.store.kpis import compute, kpis_json, percentile_nearest_rank

from .seed import A1, A2, arn, at, aws_obs, iac_obs, public_assessment, snap

SCOPE = [f"{A1}/eu-west-1", f"{A2}/eu-west-1"]


def seed(h: History, tmp: Path) -> dict[str, str]:
    """Five public keys opened at hour 0; resolved after 2, 4, 6 and 40 hours by complete
    scans, one still open; an incomplete scan in between resolves nothing; a cross-account
    key; a monitor event opens and resolves a sixth key (MTTR 1 h)."""
    k = {i: arn(i) for i in range(1, 6)}
    cross = arn(9, account=A2)
    inventory = [
        snap(k[1], owner=True), snap(k[2], owner=True), snap(k[3], owner=False),
        snap(k[4], owner=True), snap(k[5], owner=None),  # tags unreadable: not counted
        snap(cross, owner=False, tags=(("team", "<script>x</script>"),)),
        snap(arn(10), owner=None, manager="AWS"),
    ]
    xacct = aws_obs(cross, rules.CROSS_ACCOUNT_POLICY, Severity.HIGH, Verdict.CROSS_ACCOUNT)

    def scan(hours: float, open_keys: list[int], complete: bool = True) -> None:
        h.record_run(RunKind.AWS, SCOPE, [*(aws_obs(k[i]) for i in open_keys), xacct],
                     complete=complete, finished_at=at(hours), snapshots=inventory)

    scan(0, [1, 2, 3, 4, 5])
    scan(1, [], complete=False)  # sees nothing, resolves nothing
    scan(2, [2, 3, 4, 5])  # k1: 2 h
    scan(4, [3, 4, 5])  # k2: 4 h
    scan(6, [4, 5])  # k3: 6 h
    h.record_monitor_alert(key_arn=arn(6), status="exposed", event_id="e1",
                           event_time=at(10), assessment=public_assessment())
    h.record_monitor_alert(key_arn=arn(6), status="resolved", event_id="e2", event_time=at(11))
    scan(40, [5])  # k4: 40 h
    template = str(tmp / "keys.yaml")
    for hours in (3, 5):  # the same misconfiguration blocked twice
        h.record_run(RunKind.IAC, [str(tmp)], [iac_obs(template, "Open")], complete=True,
                     fail_on=Severity.HIGH, finished_at=at(hours))
    h.record_run(RunKind.IAC, [str(tmp)], [iac_obs(template, "Other")], complete=True,
                 fail_on=Severity.HIGH, finished_at=at(30))
    return k


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
