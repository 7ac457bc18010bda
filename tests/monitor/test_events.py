"""Reading events: both shapes, every monitored event name, and garbage (a reason, never a
crash)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmsguard.monitor import MONITORED_EVENTS, EventError, Ignored, KmsEvent, parse_event

from .events import ACCOUNT, OUTSIDE, envelope, key_arn, public_policy, put_policy, record


def _event(raw: Any) -> KmsEvent:
    parsed = parse_event(raw)
    assert isinstance(parsed, KmsEvent), parsed
    return parsed


def test_bare_record_and_envelope_read_the_same() -> None:
    rec = put_policy(public_policy())
    bare, wrapped = _event(rec), _event(envelope(rec))
    assert bare == wrapped
    assert bare.key_arn == key_arn()
    assert bare.policy == public_policy()
    assert bare.actor.principal == f"arn:aws:iam::{ACCOUNT}:role/admin"
    assert bare.actor.source_ip == "198.51.100.7"
    assert bare.actor.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/alice"


def test_json_text_and_bytes() -> None:
    rec = put_policy(public_policy())
    assert _event(json.dumps(rec)) == _event(json.dumps(rec).encode()) == _event(rec)


@pytest.mark.parametrize("name", sorted(MONITORED_EVENTS))
def test_every_monitored_event_is_read(name: str) -> None:
    params: dict[str, Any] = {}
    response: dict[str, Any] | None = None
    if name == "CreateGrant":
        params = {"granteePrincipal": f"arn:aws:iam::{OUTSIDE}:root", "operations": ["Decrypt"]}
        response = {"grantId": "g1"}
    if name in ("RetireGrant", "RevokeGrant"):
        params = {"grantId": "g1"}
    if name == "TagResource":
        params = {"tags": [{"tagKey": "owner", "tagValue": "team-a"}]}
    if name == "UntagResource":
        params = {"tagKeys": ["owner"]}
    if name == "ReplicateKey":
        params = {"replicaRegion": "us-east-1"}
    event = _event(record(name, params=params, response=response))
    assert event.event_name == name
    if name == "ReplicateKey":
        assert event.key_arn == key_arn(region="us-east-1")
        assert event.region == "us-east-1"
        assert event.default_policy
    else:
        assert event.key_arn == key_arn()
    if name == "CreateGrant":
        assert event.grant is not None
        assert event.grant.grant_id == "g1"
        assert event.grant.operations == ("Decrypt",)
    if name in ("RetireGrant", "RevokeGrant"):
        assert event.grant_id == "g1"
    if name == "TagResource":
        assert event.tags_set == (("owner", "team-a"),)
    if name == "UntagResource":
        assert event.tags_removed == ("owner",)


def test_replicate_key_belongs_to_the_replica_named_in_the_response() -> None:
    replica = key_arn(region="ap-south-1")
    rec = record(
        "ReplicateKey",
        params={"replicaRegion": "ap-south-1", "policy": public_policy()},
        response={"replicaKeyMetadata": {"arn": replica}, "replicaPolicy": "ignored"},
    )
    event = _event(rec)
    assert event.key_arn == replica
    assert event.policy == public_policy()


def test_create_key_takes_the_arn_from_the_response() -> None:
    created = key_arn(7)
    rec = record("CreateKey", response={"keyMetadata": {"arn": created}})
    rec["resources"] = []
    rec["requestParameters"] = {"description": "x"}
    event = _event(rec)
    assert event.key_arn == created
    assert event.default_policy
    assert event.policy is None


@pytest.mark.parametrize(
    ("rec", "why"),
    [
        (record("Decrypt"), "cannot change"),
        (record("PutKeyPolicy", errorCode="AccessDenied"), "the call failed"),
        (record("PutKeyPolicy", eventSource="s3.amazonaws.com"), "event source"),
        ({"detail-type": "KMS Key Rotation", "detail": {}}, "detail-type"),
    ],
)
def test_events_that_change_nothing_are_ignored(rec: dict[str, Any], why: str) -> None:
    parsed = parse_event(rec)
    assert isinstance(parsed, Ignored)
    assert why in parsed.reason


def _without(rec: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in names}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json at all", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ("null", "expected a JSON object"),
        ({"hello": "world"}, "not a CloudTrail record"),
        (_without(put_policy("{}"), "eventID"), "no `eventID`"),
        (put_policy("{}", time="yesterday"), "is not a time"),
        (_without(put_policy("{}"), "eventTime"), "no `eventTime`"),
        ({**put_policy("{}"), "requestParameters": "x"}, "`requestParameters` is not an object"),
        (
            {**put_policy("{}"), "resources": [], "requestParameters": {"keyId": "alias/x"}},
            "names no key ARN",
        ),
        (
            {
                **put_policy("{}"),
                "resources": [{"ARN": "arn:aws:kms:::key/"}],
                "requestParameters": {},
            },
            "names no key ARN",
        ),
        (record("PutKeyPolicy", params={"policy": 42}), "neither a string nor an object"),
        (record("UntagResource", params={"tagKeys": "owner"}), "tagKeys"),
        (record("TagResource", params={"tags": [{"tagValue": "x"}]}), "tagKey"),
        (record("CreateGrant", params={"operations": ["Decrypt"]}), "granteePrincipal"),
        (
            record("ReplicateKey", params={}, resources=[], requestParameters={}),
            "names no replica",
        ),
        ({"detail-type": "AWS API Call via CloudTrail", "detail": "x"}, "no `detail` object"),
        ("x" * (1024 * 1024 + 1), "over the"),
    ],
)
def test_garbage_gives_a_reason(raw: Any, reason: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event(raw)
    assert reason in info.value.reason


def test_error_names_the_event_id_when_known() -> None:
    rec = put_policy("{}", time="not-a-time", event_id="abc-123")
    with pytest.raises(EventError) as info:
        parse_event(rec)
    assert info.value.event_id == "abc-123"


def test_actor_of_a_service_and_of_an_outside_account() -> None:
    svc = record("CreateGrant", params={"granteePrincipal": "x", "operations": []})
    svc["userIdentity"] = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    assert _event(svc).actor.principal == "ec2.amazonaws.com"
    other = put_policy("{}")
    other["userIdentity"] = {"type": "AWSAccount", "principalId": "AIDAX", "accountId": OUTSIDE}
    actor = _event(other).actor
    assert actor.principal == f"arn:aws:iam::{OUTSIDE}:root"
    assert actor.account == OUTSIDE
    weird = put_policy("{}")
    weird["userIdentity"] = {"type": 5}
    assert _event(weird).actor.principal is None
