"""The differential check (tricky.py) on a small seeded sample: shortcuts on and off agree,
nothing is undecided, no brute-force outsider contradicts a verdict, and the engine's evaluator
and the independent reference evaluator (reference.py) agree on every candidate request. The
benchmark bench/check/differential.py runs the same check over thousands of policies."""

from __future__ import annotations

import random

import pytest

from kmsguard.policy import evaluate, parse_policy

from .tricky import ZONE, check, representative_requests, tricky_policy


@pytest.mark.parametrize("seed", range(6))
def test_tricky_policies_agree_with_the_brute_force(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(3):
        outcome = check(tricky_policy(rnd))
        assert not outcome.problems, outcome


def test_the_brute_force_finds_what_a_wrong_private_hides() -> None:
    """The search can fail a verdict: the issue's `Deny` of a wildcard role pattern leaves
    everyone else allowed, and the search finds such an outsider."""
    policy = {
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": {"AWS": "arn:aws:iam::777788889999:role/app-*"},
                "Action": "kms:*",
                "Resource": "*",
            },
        ]
    }
    parsed = parse_policy(policy)
    allowed = [
        r
        for r in representative_requests(policy, "kms:Decrypt")
        if evaluate(parsed, r, key_account=ZONE.account).allowed
        and not ZONE.contains_account(r.account or "")
    ]
    assert allowed
    assert check(policy).problems == ()


@pytest.mark.parametrize(
    "pattern",
    [
        "arn:aws:iam::*:role/app${?}",
        "arn:aws:iam::*:role/app${*}",
        "arn:aws:iam::2109876543${?}?:role/*",
        "arn:aws:iam::*:role/${$}{aws:username}",
    ],
)
@pytest.mark.parametrize(("effect", "operator"), [("Allow", "StringLike"), ("Deny", "ArnNotLike")])
def test_escaped_wildcards_in_a_principal_arn_pattern_are_literal(
    pattern: str, effect: str, operator: str
) -> None:
    """`${?}`, `${*}`, `${$}` are literal characters: the solver used to read the pattern's
    text again as a pattern (a wildcard) and end `error` on a witness the evaluator refused."""
    statements: list[dict[str, object]] = [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    ]
    statements = statements[: effect == "Deny"]
    statements.append(
        {
            "Effect": effect,
            "Principal": {"AWS": "210987654321"} if effect == "Allow" else "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {operator: {"aws:PrincipalArn": pattern}},
        }
    )
    outcome = check({"Version": "2012-10-17", "Statement": statements})
    assert not outcome.problems, outcome


@pytest.mark.parametrize(
    "principal",
    [
        "arn:aws:iam::210987654321:role/app",
        "arn:aws:iam::210987654321:user/alice",
        "arn:aws:sts::210987654321:assumed-role/app/s1",
        "210987654321",
    ],
)
@pytest.mark.parametrize("userid", [["AROA*"], ["AIDA*"], ["AIDAEXAMPLE*", "AROA*"], ["*:s1"]])
def test_named_principal_against_a_deny_on_its_unique_id(principal: str, userid: list[str]) -> None:
    """Every witness is a request AWS sends: an IAM caller always carries `aws:userid`. A
    shortcut's witness for a named outside principal lacked it, slipped past a Deny on
    `AROA*` and made a private key cross-account; the brute force (which sends realistic
    unique ids) and the reference evaluator judge each combination here."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "kms:Decrypt",
                "Resource": "*",
            },
            {
                "Effect": "Deny",
                "Principal": {"AWS": principal},
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"StringLike": {"aws:userid": userid}},
            },
        ],
    }
    outcome = check(policy)
    assert not outcome.problems, outcome
