"""The reference evaluator on hand-labelled requests, one per rule of SPEC-exposure.md /
the IAM User Guide: it must be right on its own, not only agree with the engine."""

from __future__ import annotations

from typing import Any

import pytest

from .reference import is_allowed

OWN = "123456789012"
OUT = "999900001111"


def role(account: str = OUT, **extra: Any) -> dict[str, Any]:
    return {
        "principal": f"arn:aws:iam::{account}:role/app",
        "account": account,
        "type": "AssumedRole",
        "action": "kms:Decrypt",
        "context": {},
        **extra,
    }


def root(account: str = OUT) -> dict[str, Any]:
    return {**role(account), "principal": f"arn:aws:iam::{account}:root", "type": "Account"}


def allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", **extra}


def deny(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*", **extra}


def cond(op: str, key: str, value: Any) -> dict[str, Any]:
    return {"Condition": {op: {key: value}}}


CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], bool]] = [
    ("default deny", [deny()], role(), False),
    ("deny beats allow", [allow(), deny()], role(), False),
    (
        "deny of outsiders by org, outsider without org",
        [allow(), deny(**cond("StringNotEquals", "aws:PrincipalOrgID", "o-own1234567"))],
        role(),
        False,
    ),
    (
        "negated operator, absent key: true",
        [allow(**cond("StringNotEquals", "aws:SourceVpce", "v"))],
        role(),
        True,
    ),
    (
        "plain operator, absent key: false",
        [allow(**cond("StringEquals", "aws:SourceVpce", "v"))],
        role(),
        False,
    ),
    (
        "IfExists, absent key: true",
        [allow(**cond("StringEqualsIfExists", "aws:SourceVpce", "v"))],
        role(),
        True,
    ),
    (
        "ForAllValues, absent key: true",
        [allow(**cond("ForAllValues:StringEquals", "aws:PrincipalOrgPaths", "o-x/*"))],
        role(),
        True,
    ),
    (
        "ForAnyValue, absent key: false",
        [allow(**cond("ForAnyValue:StringEquals", "aws:PrincipalOrgPaths", "o-x/"))],
        role(),
        False,
    ),
    ("Null true, absent key", [allow(**cond("Null", "aws:PrincipalOrgID", "true"))], role(), True),
    (
        "Null true, present key",
        [allow(**cond("Null", "aws:PrincipalOrgID", "true"))],
        role(org_id="o-abcdefghij"),
        False,
    ),
    (
        "key names case-insensitive",
        [allow(**cond("StringEquals", "KMS:CALLERACCOUNT", OUT))],
        role(),
        True,
    ),
    (
        "StringEquals: * is literal",
        [allow(**cond("StringEquals", "kms:CallerAccount", "*"))],
        role(),
        False,
    ),
    (
        "StringLike: * wildcard",
        [allow(**cond("StringLike", "kms:CallerAccount", "9999*"))],
        role(),
        True,
    ),
    (
        "StringLike: ${*} is a literal star",
        [allow(**cond("StringLike", "kms:CallerAccount", "9999${*}"))],
        role(),
        False,
    ),
    (
        "StringLike is case-sensitive",
        [allow(**cond("StringLike", "aws:PrincipalArn", "*:role/APP"))],
        role(),
        False,
    ),
    (
        "ArnLike: * stays inside the account part",
        [allow(**cond("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*"))],
        role(),
        False,
    ),
    (
        "ArnLike: per part",
        [allow(**cond("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/*"))],
        role(),
        True,
    ),
    (
        "variable pins nothing",
        [allow(**cond("StringEquals", "aws:PrincipalAccount", "${aws:PrincipalAccount}"))],
        role(),
        True,
    ),
    (
        "variable default",
        [allow(**cond("StringEquals", "aws:PrincipalAccount", "${aws:username, '" + OUT + "'}"))],
        role(),
        True,
    ),
    ("account root: every principal of the account", [allow(Principal={"AWS": OUT})], role(), True),
    ("other account's root", [allow(Principal={"AWS": f"arn:aws:iam::{OWN}:root"})], role(), False),
    (
        "role ARN names its sessions",
        [allow(Principal={"AWS": f"arn:aws:iam::{OUT}:role/app"})],
        role(session="s9"),
        True,
    ),
    (
        "deny of one session leaves the others",
        [allow(), deny(Principal={"AWS": f"arn:aws:sts::{OUT}:assumed-role/app/s1"})],
        role(session="s2"),
        True,
    ),
    (
        "NotPrincipal deny listing a root exempts only the root",
        [allow(), deny(Principal=None, NotPrincipal={"AWS": OUT})],
        role(),
        False,
    ),
    (
        "NotPrincipal deny listing a root: the root",
        [allow(), deny(Principal=None, NotPrincipal={"AWS": OUT})],
        root(),
        True,
    ),
    ("NotAction allow", [allow(Action=None, NotAction="kms:Encrypt")], role(), True),
    ("actions case-insensitive", [allow(Action="KMS:decrypt")], role(), True),
    ("non-KMS action grants nothing", [allow(Action="s3:*")], role(), False),
    (
        "Resource of another account's keys",
        [allow(Resource=f"arn:aws:kms:*:{OUT}:key/*")],
        role(),
        False,
    ),
    (
        "Resource with a wildcard region",
        [allow(Resource=f"arn:aws:kms:eu-*:{OWN}:key/*")],
        role(),
        True,
    ),
    ("Resource: trailing * crosses colons", [allow(Resource="arn:aws:kms:*")], role(), True),
    (
        "Deny on an alias pattern",
        [allow(), deny(Resource=f"arn:aws:kms:*:{OWN}:alias/*")],
        role(),
        True,
    ),
    (
        "NumericEquals on the account",
        [allow(**cond("NumericEquals", "kms:CallerAccount", int(OUT)))],
        role(),
        True,
    ),
    (
        "Infinity is no number",
        [allow(**cond("NumericLessThan", "kms:CallerAccount", "Infinity"))],
        role(),
        False,
    ),
    (
        "IpAddress",
        [allow(**cond("IpAddress", "aws:SourceIp", "10.0.0.0/8"))],
        role(context={"aws:SourceIp": ["10.1.2.3"]}),
        True,
    ),
    (
        "wildcard principal ARN grants as *",
        [allow(Principal={"AWS": "arn:aws:iam::*:root"})],
        role(),
        True,
    ),
    (
        "wildcard principal ARN restricts as a pattern",
        [allow(), deny(Principal={"AWS": f"arn:aws:iam::{OUT}:role/x-*"})],
        role(),
        True,
    ),
    (
        "version 2008: ${...} is text",
        [allow(**cond("StringEquals", "kms:CallerAccount", "${aws:PrincipalAccount}"))],
        role(),
        False,
    ),
]


def _drop_none(statement: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in statement.items() if v is not None}


@pytest.mark.parametrize(
    ("name", "statements", "request_", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_reference_on_labelled_requests(
    name: str, statements: list[dict[str, Any]], request_: dict[str, Any], expected: bool
) -> None:
    # before 2012-10-17 `${aws:PrincipalAccount}` is literal text, not the caller's account
    version = "2008-10-17" if name.startswith("version 2008") else "2012-10-17"
    policy = {"Version": version, "Statement": [_drop_none(s) for s in statements]}
    assert is_allowed(policy, request_, key_account=OWN) is expected
