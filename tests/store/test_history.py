"""Finding lifecycles: open, touched, resolved only by a complete scan of the same scope,
by a policy change or by a monitor event; reopened as a new episode."""

from __future__ import annotations

from pathlib import Path

from kmsguard import rules
from kmsguard.model import Severity
from kmsguard.store import FindingStatus, History, RunKind, iac_scope, open_database

from .seed import A2, arn, at, aws_obs, cross_assessment, iac_obs, public_assessment

EU = ["111122223333/eu-west-1"]


def _history(url: str) -> History:
    return History(open_database(url))


def test_complete_scan_resolves_what_it_no_longer_sees(db_url: str) -> None:
    h = _history(db_url)
    k1, k2 = arn(1), arn(2)
    first = h.record_run(RunKind.AWS, EU, [aws_obs(k1), aws_obs(k2)], complete=True,
                         finished_at=at(0))
    assert (first.opened, first.resolved) == (2, 0)
    again = h.record_run(RunKind.AWS, EU, [aws_obs(k1)], complete=True, finished_at=at(5))
    assert (again.opened, again.seen, again.resolved) == (0, 1, 1)
    rows = {r.subject: r for r in h.findings()}
    assert rows[k1].status == "open"
    assert rows[k1].last_seen.replace(tzinfo=None) == at(5).replace(tzinfo=None)
    assert rows[k2].status == "resolved"
    assert rows[k2].resolved_by_run == again.run_id
    assert rows[k2].resolved_at is not None
    h.engine.dispose()


def test_incomplete_scan_resolves_nothing(db_url: str) -> None:
    h = _history(db_url)
    h.record_run(RunKind.AWS, EU, [aws_obs(arn(1)), aws_obs(arn(2))], complete=True,
                 finished_at=at(0))
    partial = h.record_run(RunKind.AWS, EU, [aws_obs(arn(1))], complete=False,
                           finished_at=at(1))
    assert partial.resolved == 0
    assert {r.status for r in h.findings()} == {"open"}
    assert "nothing resolved" in partial.describe()
    h.engine.dispose()


def test_scan_of_another_scope_resolves_nothing_outside_it(db_url: str) -> None:
    h = _history(db_url)
    other = arn(3, account=A2, region="us-east-1")
    h.record_run(RunKind.AWS, [*EU, f"{A2}/us-east-1"], [aws_obs(arn(1)), aws_obs(other)],
                 complete=True, finished_at=at(0))
    only_eu = h.record_run(RunKind.AWS, EU, [], complete=True, finished_at=at(1))
    assert only_eu.resolved == 1
    status = {r.subject: r.status for r in h.findings()}
    assert status == {arn(1): "resolved", other: "open"}
    h.engine.dispose()


def test_a_finding_that_comes_back_is_a_new_episode(db_url: str) -> None:
    h = _history(db_url)
    h.record_run(RunKind.AWS, EU, [aws_obs(arn(1))], complete=True, finished_at=at(0))
    h.record_run(RunKind.AWS, EU, [], complete=True, finished_at=at(2))
    h.record_run(RunKind.AWS, EU, [aws_obs(arn(1))], complete=True, finished_at=at(3))
    rows = h.findings()
    assert [r.status for r in rows] == ["resolved", "open"]
    assert rows[0].fingerprint == rows[1].fingerprint
    h.engine.dispose()


def test_iac_gate_records_blocked_findings_and_folder_scope(db_url: str, tmp_path: Path) -> None:
    h = _history(db_url)
    scope = iac_scope([tmp_path])
    bad = str(tmp_path / "stack" / "keys.yaml")
    record = h.record_run(
        RunKind.IAC, scope,
        [iac_obs(bad, "OpenKey"), iac_obs(bad, "TagLess", Severity.INFO)],
        complete=True, fail_on=Severity.HIGH, finished_at=at(0),
    )
    assert record.blocked == 1
    [blocked] = h.blocked()
    assert blocked.fail_on == "high"
    fixed = h.record_run(RunKind.IAC, scope, [], complete=True, finished_at=at(1))
    assert fixed.resolved == 2
    h.engine.dispose()


def test_policy_change_and_monitor_alerts(db_url: str) -> None:
    h = _history(db_url)
    key = arn(7)
    opened = h.record_monitor_alert(
        key_arn=key, status="exposed", event_id="ev-1", event_time=at(1),
        assessment=public_assessment(),
    )
    assert len(opened.opened) == 1
    [row] = h.findings(FindingStatus.OPEN)
    assert (row.rule_id, row.opened_by_event, row.statements) == (
        rules.PUBLIC_POLICY, "monitor:ev-1", "Open")
    assert row.witness
    assert "kms:Decrypt" in row.witness
    # a scan that sees the same exposure keeps the one episode
    h.record_run(RunKind.AWS, EU, [aws_obs(key)], complete=True, finished_at=at(2))
    assert len(h.findings()) == 1
    # the policy becomes cross-account: public resolves, cross-account opens
    change = h.record_policy_state(key, cross_assessment(), event="fix-apply:3", at=at(3))
    assert (len(change.opened), len(change.resolved)) == (1, 1)
    resolved = h.record_monitor_alert(
        key_arn=key, status="resolved", event_id="ev-2", event_time=at(4),
    )
    assert len(resolved.resolved) == 1
    by_rule = {r.rule_id: r for r in h.findings()}
    assert by_rule[rules.PUBLIC_POLICY].resolved_by_event == "fix-apply:3"
    assert by_rule[rules.CROSS_ACCOUNT_POLICY].resolved_by_event == "monitor:ev-2"
    h.engine.dispose()
