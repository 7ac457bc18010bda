"""The owner of a policy judged without --account: read from the administrator statement;
unknown when the policy also names the deploying account symbolically (a template's
`AWS::AccountId`), in which case the administrator's literal account is not judged as an
outside account."""

from __future__ import annotations

from typing import Any

from kmsguard.model import SELF_ACCOUNT, TrustZone, Verdict
from kmsguard.policy import analyze_inferring_owner, parse_policy

OWNER = "111122223333"
OUTSIDER = "444455556666"


def _policy(*principals: str) -> dict[str, Any]:
    admin = {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    uses = [
        {
            "Sid": f"Use{i}",
            "Effect": "Allow",
            "Principal": {"AWS": p},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
        for i, p in enumerate(principals)
    ]
    return {"Version": "2012-10-17", "Statement": [admin, *uses]}


SELF_ROLE = f"arn:aws:iam::{SELF_ACCOUNT}:role/app"


def test_literal_administrator_and_symbolic_deploying_account_is_unknown_owner() -> None:
    a = analyze_inferring_owner(parse_policy(_policy(SELF_ROLE)), TrustZone())
    assert a.verdict is Verdict.PRIVATE
    assert any(n.startswith(f"unknown owner: account {OWNER}") for n in a.notes)


def test_an_outside_account_beside_them_is_still_outside() -> None:
    policy = _policy(SELF_ROLE, f"arn:aws:iam::{OUTSIDER}:role/partner")
    a = analyze_inferring_owner(parse_policy(policy), TrustZone())
    assert a.verdict is Verdict.CROSS_ACCOUNT
    assert {p for e in a.exposures for p in e.principals} == {OUTSIDER}


def test_a_given_account_is_never_second_guessed() -> None:
    a = analyze_inferring_owner(parse_policy(_policy(SELF_ROLE)), TrustZone(account=OUTSIDER))
    assert a.verdict is Verdict.CROSS_ACCOUNT
    assert not any("unknown owner" in n for n in a.notes)


def test_literal_only_policy_reads_the_owner_as_before() -> None:
    policy = _policy(f"arn:aws:iam::{OWNER}:role/app")
    a = analyze_inferring_owner(parse_policy(policy), TrustZone())
    assert a.verdict is Verdict.PRIVATE
    assert any(n.startswith(f"owner account {OWNER} read from") for n in a.notes)
