"""`kmsguard monitor replay --record`: the monitor's alerts reach the findings history
through the store's recorder API, and `kmsguard report` counts them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kmsguard import rules
from kmsguard.cli import main
from kmsguard.demo.events import monitor_day, write_events
from kmsguard.model import ExposureKind, Severity, Verdict
from kmsguard.monitor.alerts import NO_ACTOR, Alert, AlertType
from kmsguard.monitor.history_sink import HistorySink
from kmsguard.store import FindingStatus, History, open_database
from kmsguard.store.observations import assessment_from_exposures
from tests.store.seed import public_assessment

KEY = "arn:aws:kms:eu-west-1:210987654321:key/00000000-0000-4000-8000-000000000042"
DAY = datetime(2026, 11, 30, tzinfo=UTC)


def test_exposures_round_trip_through_json() -> None:
    original = public_assessment("Open<script>")
    again = assessment_from_exposures([e.to_json() for e in original.exposures])
    assert again == original
    assert again.verdict is Verdict.PUBLIC
    assert again.exposures[0].kind is ExposureKind.PUBLIC


def _alert(kind: AlertType, event_id: str, when: str, exposures: tuple[dict, ...]) -> Alert:
    return Alert(type=kind, key_arn=KEY, event_id=event_id, event_name="PutKeyPolicy",
                 event_time=when, account="210987654321", region="eu-west-1", actor=NO_ACTOR,
                 verdict="public", previous_verdict=None, severity=str(Severity.CRITICAL),
                 exposures=exposures)


def test_sink_opens_and_resolves_by_event(tmp_path: Path) -> None:
    history = History(open_database(f"sqlite:///{tmp_path / 'h.db'}"))
    sink = HistorySink(history)
    exposures = tuple(e.to_json() for e in public_assessment().exposures)
    sink.send(_alert(AlertType.EXPOSED, "e1", "2026-11-30T09:00:00Z", exposures))
    sink.send(_alert(AlertType.GRANT, "e2", "2026-11-30T09:30:00Z", exposures))  # ignored
    sink.send(_alert(AlertType.RESOLVED, "e3", "2026-11-30T11:30:00Z", ()))
    [row] = history.findings()
    assert (row.rule_id, row.status) == (rules.PUBLIC_POLICY, "resolved")
    assert (row.opened_by_event, row.resolved_by_event) == ("monitor:e1", "monitor:e3")
    assert row.resolved_at is not None
    assert (row.resolved_at.replace(tzinfo=UTC) - row.first_seen.replace(tzinfo=UTC)
            ).total_seconds() == 2.5 * 3600


def test_replay_record_feeds_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.json"
    write_events(events, monitor_day(KEY, DAY))
    db = f"sqlite:///{tmp_path / 'h.db'}"
    with pytest.raises(SystemExit) as exc:
        main(["monitor", "replay", str(events), "--record", "--no-stdout", "--db", db])
    assert exc.value.code == 0
    history = History(open_database(db))
    assert [f.status for f in history.findings()] == [FindingStatus.RESOLVED.value]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["report", "--db", db, "--format", "json"])
    mttr = json.loads(capsys.readouterr().out)["kpis"]["mttr_critical_hours"]
    assert mttr["resolved"] == 1
    assert mttr["mean"] == pytest.approx(3 + 27 / 60 + 48 / 3600, abs=1e-3)  # 09:14:07-12:41:55
