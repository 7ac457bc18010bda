"""Normalization of single records: principals, keys, via-services (pure functions)."""

from __future__ import annotations

import json

import msgspec
import pytest

from kmsguard.usage.records import (
    PrincipalType,
    Resource,
    UserIdentity,
    key_arns,
    resolve_principal,
    via_service,
)


def decode(d: dict[str, object]) -> UserIdentity:
    return msgspec.json.decode(json.dumps(d).encode(), type=UserIdentity)


def test_assumed_role_uses_issuer_arn_with_path() -> None:
    p = resolve_principal(
        decode(
            {
                "type": "AssumedRole",
                "principalId": "AROAX:s",
                "arn": "arn:aws:sts::111122223333:assumed-role/app/s",
                "accountId": "111122223333",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAX",
                        "arn": "arn:aws:iam::111122223333:role/service-role/app",
                        "accountId": "111122223333",
                    }
                },
            }
        )
    )
    assert p == (
        "arn:aws:iam::111122223333:role/service-role/app",
        PrincipalType.ROLE,
        "111122223333",
        "AROAX",
    )


def test_assumed_role_without_issuer_falls_back_to_session_arn() -> None:
    p = resolve_principal(
        decode(
            {
                "type": "AssumedRole",
                "principalId": "AROAX:s",
                "arn": "arn:aws:sts::111122223333:assumed-role/app/s",
                "accountId": "111122223333",
            }
        )
    )
    assert p is not None
    assert p[:2] == ("arn:aws:iam::111122223333:role/app", PrincipalType.ROLE)


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ({"type": "AWSService", "invokedBy": "s3.amazonaws.com"}, ("s3.amazonaws.com", "service")),
        (
            {"type": "Root", "principalId": "111122223333", "accountId": "111122223333"},
            ("arn:aws:iam::111122223333:root", "root"),
        ),
        (
            {"type": "AWSAccount", "principalId": "AROAP:x", "accountId": "444455556666"},
            ("arn:aws:iam::444455556666:root", "account"),
        ),
        ({"accountId": "111122223333", "invokedBy": "AWS Internal"}, None),
        ({"type": "IAMUser"}, None),
    ],
)
def test_identity_variants(identity: dict[str, object], expected: tuple[str, str] | None) -> None:
    p = resolve_principal(decode(identity))
    assert (None if p is None else (p[0], str(p[1]))) == expected


def test_key_from_resources_then_key_id() -> None:
    arn = "arn:aws:kms:us-east-1:111122223333:key/k1"
    assert key_arns([Resource(arn=arn), Resource(arn="arn:aws:kms:us-east-1:1:alias/x")], None,
                    "us-east-1", "1") == [arn]
    assert key_arns([], "k1", "us-east-1", "111122223333") == [arn]
    assert key_arns([], arn, "eu-west-1", "9") == [arn]
    assert key_arns([], "alias/orders", "us-east-1", "111122223333") == []
    assert key_arns([], 42, "us-east-1", "111122223333") == []


def test_via_service_is_regional() -> None:
    assert via_service("s3.amazonaws.com", "s3.amazonaws.com", "eu-west-1") == (
        "s3.eu-west-1.amazonaws.com"
    )
    assert via_service(None, "ec2.amazonaws.com", "us-east-1") == "ec2.us-east-1.amazonaws.com"
    assert via_service("AWS Internal", "AWS Internal", "us-east-1") is None
    assert via_service(None, "192.0.2.1", "us-east-1") is None
