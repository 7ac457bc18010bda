"""The `MonitorState` contract, on both backends: SQLAlchemy on a SQLite file and DynamoDB
(conditional writes) on the moto server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from kmsguard.monitor import Actor, Alert, AlertType, Claim, KeyState, MonitorState
from kmsguard.monitor.state_dynamodb import DynamoDbMonitorState, create_table
from kmsguard.monitor.state_sql import SqlMonitorState
from kmsguard.store import open_database

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
KEY = "arn:aws:kms:eu-west-1:111122223333:key/k1"


def _alert(event_id: str) -> Alert:
    return Alert(
        type=AlertType.EXPOSED,
        key_arn=KEY,
        event_id=event_id,
        event_name="PutKeyPolicy",
        event_time="2026-11-20T10:00:00Z",
        account="111122223333",
        region="eu-west-1",
        actor=Actor("arn:aws:iam::111122223333:role/admin", source_ip="192.0.2.1"),
        verdict="public",
        previous_verdict="private",
        severity="critical",
        exposed_actions=("kms:Decrypt",),
        reason="r",
    )


@pytest.fixture(params=["sql", "dynamodb"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MonitorState]:
    if request.param == "sql":
        yield SqlMonitorState(open_database(f"sqlite:///{tmp_path / 's.sqlite3'}"))
        return
    request.getfixturevalue("aws_env")
    client = boto3.client("dynamodb", region_name="eu-west-1")
    create_table(client, "kmsguard-monitor")
    yield DynamoDbMonitorState(client, "kmsguard-monitor")


def test_claim_and_key_versions(state: MonitorState) -> None:
    assert state.key(KEY) is None
    assert not state.seen("e1")
    first = KeyState(
        key_arn=KEY,
        verdict="public",
        last_event_time="2026-11-20T10:00:00Z",
        last_private_policy='{"p": 1}',
        external_grants=(("g", "public"),),
    )
    assert state.record("e1", first, [_alert("e1")], expected_version=0, now=NOW) is Claim.CLAIMED
    stored = state.key(KEY)
    assert stored is not None
    assert stored.version == 1
    assert stored.verdict == "public"
    assert stored.last_private_policy == '{"p": 1}'
    assert stored.external_grants == (("g", "public"),)
    assert state.seen("e1")
    # the same event id again: a duplicate, whatever it carries
    assert state.record("e1", first, [], expected_version=1, now=NOW) is Claim.DUPLICATE
    # a second handler that read version 0 loses: conflict, and its event is not claimed
    assert state.record("e2", first, [], expected_version=0, now=NOW) is Claim.CONFLICT
    assert not state.seen("e2")
    second = KeyState(key_arn=KEY, verdict="private")
    assert state.record("e2", second, [], expected_version=1, now=NOW) is Claim.CLAIMED
    assert state.record("e3", second, [], expected_version=1, now=NOW) is Claim.CONFLICT
    stored = state.key(KEY)
    assert stored is not None
    assert (stored.version, stored.verdict) == (2, "private")
    # an event that changes no key (stale, unreadable) is claimed on its own
    assert state.record("e4", None, [], expected_version=0, now=NOW) is Claim.CLAIMED
    assert state.record("e4", None, [], expected_version=0, now=NOW) is Claim.DUPLICATE


def test_pending_alerts_are_reclaimed_after_the_lease_only_once(state: MonitorState) -> None:
    lease = timedelta(seconds=30)
    state.record("e1", None, [_alert("e1")], expected_version=0, now=NOW)
    assert state.reclaim("e1", now=NOW + timedelta(seconds=10), lease=lease) == ()
    later = NOW + timedelta(seconds=31)
    assert state.reclaim("e1", now=later, lease=lease) == (_alert("e1"),)
    assert state.reclaim("e1", now=later + timedelta(seconds=1), lease=lease) == ()  # renewed
    state.delivered("e1")
    assert state.reclaim("e1", now=later + timedelta(hours=1), lease=lease) == ()
    state.record("e2", None, [], expected_version=0, now=NOW)  # nothing to deliver
    assert state.reclaim("e2", now=later, lease=lease) == ()
    assert state.reclaim("missing", now=later, lease=lease) == ()
