"""The handler: alert on a change of verdict or a new finding only, resolve, idempotence by
eventID, stale events, grants, owner tags, unreadable events; state on a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kmsguard.monitor import (
    Claim,
    CollectingSink,
    KeyState,
    Monitor,
    MonitorConfig,
    SinkError,
    Status,
)
from kmsguard.monitor.handler import RetryLaterError
from kmsguard.monitor.state_sql import SqlMonitorState

from .events import (
    ACCOUNT,
    OUTSIDE,
    cross_account_policy,
    envelope,
    key_arn,
    private_policy,
    public_policy,
    put_policy,
    record,
)


def t(minute: int) -> str:
    return f"2026-11-20T10:{minute:02d}:00Z"


def types(sink: CollectingSink) -> list[str]:
    return [str(a.type) for a in sink.alerts]


def test_public_policy_alerts_with_every_field(monitor: Monitor, sink: CollectingSink) -> None:
    out = monitor.handle(envelope(put_policy(public_policy(), time=t(1), event_id="e1")))
    assert out.status is Status.ALERTED
    [alert] = sink.alerts
    data = alert.to_json()
    assert data["type"] == "exposed"
    assert data["key_arn"] == key_arn()
    assert data["account"] == ACCOUNT
    assert data["region"] == "eu-west-1"
    assert data["event_id"] == "e1"
    assert data["event_name"] == "PutKeyPolicy"
    assert data["actor"]["principal"] == f"arn:aws:iam::{ACCOUNT}:role/admin"
    assert data["actor"]["source_ip"] == "198.51.100.7"
    assert data["verdict"] == "public"
    assert data["severity"] == "critical"
    assert data["exposed_actions"] == ["kms:Decrypt"]
    assert data["exposures"][0]["kind"] == "public"
    assert data["witness"]["action"] == "kms:Decrypt"
    assert data["exposed_since"] == t(1)
    # typed and serialisable: the JSON form reads back to the same alert
    assert type(alert).from_json(json.loads(alert.to_json_line())) == alert


def test_alert_only_on_change(monitor: Monitor, sink: CollectingSink) -> None:
    monitor.handle(put_policy(private_policy(), time=t(1)))
    assert sink.alerts == []  # a private key: nothing to say
    monitor.handle(put_policy(public_policy(), time=t(2)))
    monitor.handle(put_policy(public_policy(), time=t(3)))  # same exposure again: quiet
    assert types(sink) == ["exposed"]
    wider = public_policy(actions=("kms:Decrypt", "kms:Encrypt"))
    monitor.handle(put_policy(wider, time=t(4)))  # a new finding: more actions exposed
    assert types(sink) == ["exposed", "exposed"]
    assert "exposes more" in sink.alerts[-1].reason
    monitor.handle(put_policy(public_policy(), time=t(5)))  # fewer actions: still public, quiet
    assert len(sink.alerts) == 2
    monitor.handle(put_policy(cross_account_policy(), time=t(6)))  # verdict changes
    assert types(sink) == ["exposed", "exposed", "exposed"]
    assert sink.alerts[-1].verdict == "cross-account"
    assert sink.alerts[-1].previous_verdict == "public"


def test_resolved_carries_when_the_exposure_began(monitor: Monitor, sink: CollectingSink) -> None:
    monitor.handle(put_policy(public_policy(), time=t(1)))
    monitor.handle(put_policy(cross_account_policy(), time=t(2)))
    monitor.handle(put_policy(private_policy(), time=t(9)))
    assert types(sink) == ["exposed", "exposed", "resolved"]
    resolved = sink.alerts[-1]
    assert resolved.verdict == "private"
    assert resolved.previous_verdict == "cross-account"
    assert resolved.exposed_since == t(1)
    assert resolved.actor.principal is not None


def test_duplicate_event_id_alerts_once(monitor: Monitor, sink: CollectingSink) -> None:
    rec = put_policy(public_policy(), time=t(1), event_id="same")
    assert monitor.handle(rec).status is Status.ALERTED
    assert monitor.handle(envelope(rec)).status is Status.DUPLICATE
    assert monitor.handle(json.dumps(rec)).status is Status.DUPLICATE
    assert len(sink.alerts) == 1


def test_stale_event_changes_nothing(
    monitor: Monitor, sink: CollectingSink, sql_state: SqlMonitorState
) -> None:
    monitor.handle(put_policy(private_policy(), time=t(5), event_id="new"))
    out = monitor.handle(put_policy(public_policy(), time=t(4), event_id="old"))
    assert out.status is Status.STALE
    assert "older than the last event" in out.detail
    assert sink.alerts == []
    state = sql_state.key(key_arn())
    assert state is not None
    assert state.verdict == "private"
    assert state.last_event_id == "new"
    assert sql_state.seen("old")  # recorded: a redelivery is a duplicate, not stale again
    # an event at the same time as the last one is applied (not older)
    monitor.handle(put_policy(public_policy(), time=t(5), event_id="same-time"))
    assert types(sink) == ["exposed"]


def test_keys_are_independent(monitor: Monitor, sink: CollectingSink) -> None:
    monitor.handle(put_policy(public_policy(), key_arn(1), time=t(5)))
    monitor.handle(put_policy(public_policy(), key_arn(2), time=t(1)))  # older, other key
    assert [a.key_arn for a in sink.alerts] == [key_arn(1), key_arn(2)]


def test_create_key_without_policy_is_private_and_quiet(
    monitor: Monitor, sink: CollectingSink, sql_state: SqlMonitorState
) -> None:
    monitor.handle(
        record("CreateKey", time=t(1), params={"tags": [{"tagKey": "owner", "tagValue": "a"}]})
    )
    assert sink.alerts == []
    state = sql_state.key(key_arn())
    assert state is not None
    assert (state.verdict, state.owner_tag, state.key_state) == ("private", True, "Enabled")
    assert state.last_private_policy is not None


def test_create_key_with_public_policy(monitor: Monitor, sink: CollectingSink) -> None:
    monitor.handle(record("CreateKey", time=t(1), params={"policy": public_policy()}))
    assert types(sink) == ["exposed"]


def test_replicate_key_alert_belongs_to_the_replica(monitor: Monitor, sink: CollectingSink) -> None:
    monitor.handle(put_policy(private_policy(), time=t(1)))
    replica = key_arn(region="us-east-1")
    monitor.handle(
        record(
            "ReplicateKey",
            time=t(2),
            params={"replicaRegion": "us-east-1", "policy": public_policy()},
            response={"replicaKeyMetadata": {"arn": replica}},
        )
    )
    [alert] = sink.alerts
    assert alert.key_arn == replica
    assert alert.region == "us-east-1"


def _grant(grantee: str, grant_id: str, minute: int) -> dict[str, Any]:
    return record(
        "CreateGrant",
        time=t(minute),
        params={"granteePrincipal": grantee, "operations": ["Decrypt", "Encrypt"]},
        response={"grantId": grant_id},
    )


def test_outside_grant_alerts_and_revoking_it_resolves(
    monitor: Monitor, sink: CollectingSink
) -> None:
    monitor.handle(put_policy(private_policy(), time=t(1)))
    monitor.handle(_grant(f"arn:aws:iam::{ACCOUNT}:role/inside", "g-in", 2))
    assert sink.alerts == []  # a grant inside the zone of trust
    monitor.handle(_grant(f"arn:aws:iam::{OUTSIDE}:role/partner", "g-out", 3))
    assert types(sink) == ["grant"]
    grant = sink.alerts[0]
    assert grant.grant_id == "g-out"
    assert grant.verdict == "cross-account"
    assert grant.exposed_actions == ("kms:Decrypt", "kms:Encrypt")
    assert grant.witness is not None
    monitor.handle(record("RetireGrant", time=t(4), params={"grantId": "g-in"}))
    assert len(sink.alerts) == 1
    monitor.handle(record("RevokeGrant", time=t(5), params={"grantId": "g-out"}))
    assert types(sink) == ["grant", "resolved"]
    assert sink.alerts[-1].exposed_since == t(3)


def test_owner_tag_removed(monitor: Monitor, sink: CollectingSink) -> None:
    tag = [{"tagKey": "Owner", "tagValue": "team-a"}]
    monitor.handle(record("CreateKey", time=t(1), params={"tags": tag}))
    monitor.handle(record("UntagResource", time=t(2), params={"tagKeys": ["cost-center"]}))
    assert sink.alerts == []
    monitor.handle(record("UntagResource", time=t(3), params={"tagKeys": ["OWNER"]}))
    assert types(sink) == ["owner-tag-removed"]
    monitor.handle(record("UntagResource", time=t(4), params={"tagKeys": ["owner"]}))
    assert len(sink.alerts) == 1  # already without an owner
    monitor.handle(record("TagResource", time=t(5), params={"tags": tag}))
    monitor.handle(
        record("TagResource", time=t(6), params={"tags": [{"tagKey": "owner", "tagValue": " "}]})
    )
    assert types(sink) == ["owner-tag-removed", "owner-tag-removed"]


def test_key_state_events_are_applied_quietly(
    monitor: Monitor, sink: CollectingSink, sql_state: SqlMonitorState
) -> None:
    monitor.handle(put_policy(public_policy(), time=t(1)))
    for minute, name in enumerate(
        ["DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion"], 2
    ):
        assert monitor.handle(record(name, time=t(minute))).status is Status.NO_CHANGE
    state = sql_state.key(key_arn())
    assert state is not None
    assert state.key_state == "Disabled"
    assert state.verdict == "public"  # a disabled key keeps its policy
    assert len(sink.alerts) == 1


def test_garbage_is_one_error_alert(monitor: Monitor, sink: CollectingSink) -> None:
    out = monitor.handle(b"{not json")
    assert out.status is Status.MALFORMED
    assert out.failed
    assert types(sink) == ["error"]
    assert "not JSON" in sink.alerts[0].reason
    again = monitor.handle(b"{not json")  # redelivered: no second alert
    assert again.failed
    assert len(sink.alerts) == 1
    monitor.handle(put_policy("{}", time="soon", event_id="bad-time"))
    assert types(sink) == ["error", "error"]
    assert sink.alerts[-1].event_id == "bad-time"


def test_ignored_events(monitor: Monitor, sink: CollectingSink) -> None:
    assert monitor.handle(record("Decrypt")).status is Status.IGNORED
    assert sink.alerts == []


def test_policy_not_in_event_without_aws_is_an_error_alert(
    monitor: Monitor, sink: CollectingSink
) -> None:
    rec = record("PutKeyPolicy", time=t(1), params={"policyName": "default"})
    monitor.handle(rec)
    assert types(sink) == ["error"]
    assert "no AWS access" in sink.alerts[0].reason
    assert sink.alerts[0].key_arn == key_arn()


class FakeReader:
    def __init__(self, policy: str) -> None:
        self.policy_text = policy
        self.calls: list[str] = []

    def policy(self, key_arn: str) -> str:
        self.calls.append(key_arn)
        return self.policy_text


def test_policy_not_in_event_is_read(sql_state: SqlMonitorState, sink: CollectingSink) -> None:
    reader = FakeReader(public_policy())
    mon = Monitor(sql_state, sink, reader=reader)
    mon.handle(record("PutKeyPolicy", time=t(1), params={"policyName": "default"}))
    assert types(sink) == ["exposed"]
    assert reader.calls == [key_arn()]
    mon.handle(put_policy(private_policy(), time=t(2)))  # carried by the event: not read
    assert reader.calls == [key_arn()]


def test_malformed_policy_in_event_is_an_error(monitor: Monitor, sink: CollectingSink) -> None:
    monitor.handle(put_policy("this is not a policy", time=t(1)))
    assert types(sink) == ["error"]
    assert sink.alerts[0].verdict == "error"


def test_trusted_org_and_accounts(sql_state: SqlMonitorState, sink: CollectingSink) -> None:
    from kmsguard.model import TrustZone

    mon = Monitor(
        sql_state, sink, config=MonitorConfig(zone=TrustZone(trusted_accounts=frozenset({OUTSIDE})))
    )
    mon.handle(put_policy(cross_account_policy(), time=t(1)))
    assert sink.alerts == []


class FailingSink:
    def __init__(self) -> None:
        self.fail = True
        self.sent: list[Any] = []

    def send(self, alert: Any) -> None:
        if self.fail:
            raise SinkError("down")
        self.sent.append(alert)


def test_undelivered_alerts_are_delivered_on_redelivery_after_the_lease(
    sql_state: SqlMonitorState,
) -> None:
    now = [datetime(2026, 11, 20, 12, tzinfo=UTC)]
    sink = FailingSink()
    mon = Monitor(sql_state, sink, clock=lambda: now[0])
    rec = put_policy(public_policy(), time=t(1), event_id="e")
    with pytest.raises(SinkError):
        mon.handle(rec)
    sink.fail = False
    assert mon.handle(rec).alerts == ()  # within the lease: the first handler may still send
    now[0] += timedelta(minutes=1)
    again = mon.handle(rec)
    assert again.status is Status.DUPLICATE
    assert [str(a.type) for a in again.alerts] == ["exposed"]
    assert len(sink.sent) == 1
    now[0] += timedelta(minutes=5)
    assert mon.handle(rec).alerts == ()  # delivered: never again


class ConflictOnce:
    """A state whose first claim loses a race with another handler of the same key."""

    def __init__(self, inner: SqlMonitorState) -> None:
        self.inner = inner
        self.conflicts = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def record(self, event_id: str, new: KeyState | None, alerts: Any, **kw: Any) -> Claim:
        if self.conflicts and new is not None:
            self.conflicts -= 1
            # the other handler's change lands first
            other = KeyState(
                key_arn=new.key_arn,
                verdict="private",
                policy_verdict="private",
                last_event_time=t(0),
                last_event_id="other",
            )
            self.inner.record("other", other, (), expected_version=0, now=kw["now"])
            return Claim.CONFLICT
        return self.inner.record(event_id, new, alerts, **kw)


def test_conflict_judges_again(sql_state: SqlMonitorState, sink: CollectingSink) -> None:
    mon = Monitor(ConflictOnce(sql_state), sink)  # type: ignore[arg-type]
    mon.handle(put_policy(public_policy(), time=t(1)))
    assert types(sink) == ["exposed"]
    assert sink.alerts[0].previous_verdict == "private"  # judged against the state it lost to


class BrokenState(SqlMonitorState):
    def seen(self, event_id: str) -> bool:
        from kmsguard.monitor import StateError

        raise StateError("database is gone")


def test_state_failure_leaves_the_event_for_later(db_url: str, sink: CollectingSink) -> None:
    from kmsguard.store import open_database

    mon = Monitor(BrokenState(open_database(db_url)), sink)
    with pytest.raises(RetryLaterError):
        mon.handle(put_policy(public_policy()))


def test_grant_on_a_key_whose_policy_is_unknown(
    monitor: Monitor, sink: CollectingSink, sql_state: SqlMonitorState
) -> None:
    monitor.handle(_grant(f"arn:aws:iam::{OUTSIDE}:role/partner", "g1", 1))
    assert types(sink) == ["grant"]
    monitor.handle(record("RevokeGrant", time=t(2), params={"grantId": "g1"}))
    state = sql_state.key(key_arn())
    assert state is not None
    assert state.verdict == "unknown"  # the policy was never seen: not called private
    assert types(sink) == ["grant"]
    monitor.handle(put_policy(private_policy(), time=t(3)))
    assert types(sink) == ["grant"]  # private, and it was not exposed as far as known
