"""Condition semantics of the concrete evaluator (SPEC-exposure.md rules 6-9)."""

from __future__ import annotations

from typing import Any

import pytest

from kmsguard.policy import Request, evaluate, parse_policy

OWN = "123456789012"


def allowed(condition: dict[str, Any], context: dict[str, list[str]], **kw: Any) -> bool:
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": condition,
            },
        }
    )
    request = Request(
        principal=kw.get("principal", "arn:aws:iam::999988887777:role/x"),
        account=kw.get("account", "999988887777"),
        action="kms:Decrypt",
        org_id=kw.get("org_id"),
        context=context,
    )
    return evaluate(policy, request, key_account=OWN).allowed


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"StringEquals": {"kms:ViaService": "s3.x"}}, {}, False),  # absent: plain op false
        ({"StringNotEquals": {"kms:ViaService": "s3.x"}}, {}, True),  # absent: negated true
        ({"StringEqualsIfExists": {"kms:ViaService": "s3.x"}}, {}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, {}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ["a", "b"]}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ["a", "b"]}, True),
        ({"StringEquals": {"kms:ViaService": ["a", "b"]}}, {"kms:ViaService": ["b"]}, True),
        ({"StringNotEquals": {"kms:ViaService": ["a", "b"]}}, {"kms:ViaService": ["b"]}, False),
        ({"StringEquals": {"KMS:VIASERVICE": "a"}}, {"kms:viaservice": ["a"]}, True),
        ({"StringEquals": {"kms:ViaService": "A"}}, {"kms:ViaService": ["a"]}, False),
        ({"StringEqualsIgnoreCase": {"kms:ViaService": "A"}}, {"kms:ViaService": ["a"]}, True),
        ({"StringEquals": {"kms:ViaService": "*"}}, {"kms:ViaService": ["s3"]}, False),
        ({"StringLike": {"kms:ViaService": "s3.*"}}, {"kms:ViaService": ["s3.x"]}, True),
        ({"StringLike": {"kms:ViaService": "s3.?"}}, {"kms:ViaService": ["s3.xy"]}, False),
        ({"Null": {"aws:PrincipalOrgID": "true"}}, {}, True),
        ({"Null": {"aws:PrincipalOrgID": "false"}}, {}, False),
        ({"Bool": {"aws:SecureTransport": True}}, {}, True),
        (
            {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}},
            {"aws:MultiFactorAuthAge": ["60"]},
            True,
        ),
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {}, True),
        ({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {}, False),
        (
            {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            {"aws:SourceIp": ["203.0.113.9"]},
            True,
        ),
        (
            {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            {"aws:SourceIp": ["198.51.100.1"]},
            True,
        ),
        ({"StringEquals": {"kms:CallerAccount": "${aws:PrincipalAccount}"}}, {}, True),
        ({"StringEquals": {"kms:CallerAccount": "${aws:SourceAccount}"}}, {}, False),
        ({"StringEquals": {"kms:CallerAccount": "${aws:SourceAccount, '999988887777'}"}}, {}, True),
        ({"StringLike": {"kms:ViaService": "${*}"}}, {"kms:ViaService": ["*"]}, True),
        ({"StringLike": {"kms:ViaService": "${*}"}}, {"kms:ViaService": ["x"]}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"}}, {}, True),
        # ArnLike wildcards do not cross the ":" between ARN components
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}, {}, False),
        ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}, {}, True),
        ({"FancyNewOperator": {"kms:ViaService": "x"}}, {}, True),  # unknown: attacker's favour
    ],
)
def test_condition_semantics(
    condition: dict[str, Any], context: dict[str, list[str]], expected: bool
) -> None:
    assert allowed(condition, context) is expected


def test_explicit_deny_wins() -> None:
    policy = parse_policy(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
            ]
        }
    )
    r = Request(
        principal="arn:aws:iam::999988887777:role/x", account="999988887777", action="kms:Decrypt"
    )
    d = evaluate(policy, r, key_account=OWN)
    assert not d.allowed
    assert d.allowing == ("#0",)
    assert d.denying == ("#1",)


def test_notprincipal_deny_listing_root_exempts_only_the_root() -> None:
    policy = parse_policy(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": "210987654321"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
            ]
        }
    )
    role = Request(
        principal="arn:aws:iam::210987654321:role/x", account="210987654321", action="kms:Decrypt"
    )
    root = Request(
        principal="arn:aws:iam::210987654321:root",
        account="210987654321",
        action="kms:Decrypt",
        principal_type="Account",
    )
    assert not evaluate(policy, role, key_account=OWN).allowed
    assert evaluate(policy, root, key_account=OWN).allowed


def test_resource_naming_another_account_does_not_apply() -> None:
    policy = parse_policy(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": "arn:aws:kms:eu-west-1:210987654321:key/abc",
            }
        }
    )
    r = Request(
        principal="arn:aws:iam::999988887777:role/x", account="999988887777", action="kms:Decrypt"
    )
    assert not evaluate(policy, r, key_account=OWN).allowed
    assert evaluate(policy, r, key_account="210987654321").allowed


def test_get_key_policy_output_and_single_statement_object() -> None:
    inner = (
        '{"Statement": {"Effect": "Allow", "Principal": "*", '
        '"Action": "kms:Decrypt", "Resource": "*"}}'
    )
    policy = parse_policy({"Policy": inner, "PolicyName": "default"})
    assert len(policy.statements) == 1


@pytest.mark.parametrize(
    ("resource", "applies"),
    [
        ("arn:aws:kms:eu-*:123456789012:key/*", True),
        ("arn:aws:kms:eu-west-?:123456789012:key/*", True),
        ("arn:aws:kms:??-*-1:123456789012:key/*", True),
        ("arn:aws*:kms:*:123456789012:key/*", True),
        ("arn:aws:kms:*:123456789012:*-abc", True),
        ("arn:aws:kms:*:123456789012:key/mrk-*", True),
        ("arn:aws:kms:eu-*:210987654321:key/*", False),
        ("arn:aws:kms:eu-*:123456789012:alias/*", False),
    ],
)
def test_an_allow_whose_resource_pattern_may_name_the_key_applies(
    resource: str, applies: bool
) -> None:
    """Wildcards in any segment of a Resource ARN: an Allow that may name a key of the owner's
    account counts (a wildcard region used to be tried only as `us-east-1`)."""
    policy = parse_policy(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": resource,
            }
        }
    )
    r = Request(
        principal="arn:aws:iam::999900001111:role/x", account="999900001111", action="kms:Decrypt"
    )
    assert evaluate(policy, r, key_account="123456789012").allowed is applies


@pytest.mark.parametrize("value", ["Infinity", "-inf", "NaN", "1_000", "1e999", "0x10", ""])
def test_a_value_outside_policy_number_syntax_is_no_number(value: str) -> None:
    """Python's float() reads `Infinity`, `nan` and `1_000`; a policy number does not: a numeric
    condition with one is false both ways (an Allow admits nobody, a Deny denies nobody)."""
    r = Request(
        principal="arn:aws:iam::999900001111:role/x", account="999900001111", action="kms:Decrypt"
    )
    for op in ("NumericLessThan", "NumericGreaterThanEquals", "NumericEquals"):
        for effect in ("Allow", "Deny"):
            everyone = {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
            numeric: dict[str, Any] = {
                "Effect": effect,
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {op: {"kms:CallerAccount": value}},
            }
            statements = [everyone, numeric] if effect == "Deny" else [numeric]
            policy = parse_policy({"Statement": statements})
            allowed = evaluate(policy, r, key_account="123456789012").allowed
            assert allowed is (effect == "Deny"), (op, effect, value)


@pytest.mark.parametrize("value", ["12", " 12 ", "+12", "12.0", "1.2e1", ".5e2"])
def test_plain_policy_numbers_still_read(value: str) -> None:
    r = Request(
        principal="arn:aws:iam::999900001111:role/x", account="999900001111", action="kms:Decrypt"
    )
    policy = parse_policy(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"kms:CallerAccount": value}},
            }
        }
    )
    assert not evaluate(policy, r, key_account="123456789012").allowed
    low = Request(
        principal="arn:aws:iam::000000000001:role/x", account="000000000001", action="kms:Decrypt"
    )
    assert evaluate(policy, low, key_account="123456789012").allowed


@pytest.mark.parametrize(
    ("address", "cidr", "inside"),
    [
        ("10.1.2.3", "::ffff:10.0.0.0/104", True),
        ("11.1.2.3", "::ffff:10.0.0.0/104", False),
        ("::ffff:10.1.2.3", "10.0.0.0/8", True),
        ("2001:db8::1", "10.0.0.0/8", False),
        ("10.1.2.3", "2001:db8::/32", False),
        ("10.1.2.3", "10.0.0.0/8", True),
    ],
)
def test_ipv4_addresses_are_their_ipv4_mapped_ipv6_form(
    address: str, cidr: str, inside: bool
) -> None:
    """As the solver models addresses (one 128-bit space): the evaluator must agree with it,
    or a solver witness is refused and the policy ends `error`."""
    policy = parse_policy(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": cidr}},
            }
        }
    )
    r = Request(
        principal="arn:aws:iam::999900001111:role/x",
        account="999900001111",
        action="kms:Decrypt",
        context={"aws:SourceIp": [address]},
    )
    assert evaluate(policy, r, key_account="123456789012").allowed is inside
