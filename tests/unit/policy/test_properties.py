"""Properties of the engine over generated policies (Hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsguard.model import TrustZone, Verdict
from kmsguard.policy import Request, analyze_policy, evaluate, parse_policy

OWN = "123456789012"
ZONE = TrustZone(account=OWN, trusted_orgs=frozenset({"o-exampleorgid"}))
RANK = {Verdict.PRIVATE: 0, Verdict.CROSS_ACCOUNT: 1, Verdict.PUBLIC: 2}

principals = st.sampled_from(
    [
        "*",
        {"AWS": "*"},
        {"AWS": f"arn:aws:iam::{OWN}:root"},
        {"AWS": "210987654321"},
        {"AWS": "arn:aws:iam::210987654321:role/partner"},
        {"AWS": f"arn:aws:iam::{OWN}:role/app"},
        {"Service": "logs.amazonaws.com"},
    ]
)
actions = st.sampled_from(
    ["kms:*", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:Describe*", "*"]
)
conditions = st.sampled_from(
    [
        {"StringEquals": {"kms:CallerAccount": OWN}},
        {"StringNotEquals": {"kms:CallerAccount": OWN}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-exampleorgid"}},
        {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-exampleorgid"}},
        {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app"}},
        {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{OWN}:role/*"}},
        {"Bool": {"aws:SecureTransport": "false"}},
        {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        {"StringEquals": {"aws:SourceVpce": "vpce-0abc"}},
        {"Null": {"aws:PrincipalOrgID": "true"}},
        {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-exampleorgid/*"}},
        {"StringEquals": {"kms:CallerAccount": "210987654321"}},
        {"StringEquals": {"aws:PrincipalAccount": "${aws:PrincipalAccount}"}},
        {"StringLike": {"kms:CallerAccount": ["12345678*", "2109876543??"]}},
        {"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "payments"}},
        {"StringNotEqualsIfExists": {"aws:SourceVpce": "vpce-0abc"}},
    ]
)


@st.composite
def statements(draw: Any, effect: str | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Allow", "Deny"])),
        "Principal": draw(principals),
        draw(st.sampled_from(["Action", "Action", "Action", "NotAction"])): draw(actions),
        "Resource": "*",
    }
    conds = draw(st.lists(conditions, max_size=2))
    if conds:
        merged: dict[str, dict[str, str]] = {}
        for c in conds:
            for op, kv in c.items():
                merged.setdefault(op, {}).update(kv)
        s["Condition"] = merged
    return s


@st.composite
def policies(draw: Any) -> dict[str, Any]:
    stmts = draw(st.lists(statements(), min_size=1, max_size=4))
    return {"Version": "2012-10-17", "Statement": stmts}


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(policies(), statements(effect="Deny"))
def test_adding_a_deny_never_widens_exposure(policy: dict[str, Any], deny: dict[str, Any]) -> None:
    before = analyze_policy(policy, ZONE)
    after = analyze_policy({**policy, "Statement": [*policy["Statement"], deny]}, ZONE)
    assert RANK[after.verdict] <= RANK[before.verdict]
    assert set(after.exposed_actions) <= set(before.exposed_actions)


@SETTINGS
@given(policies(), st.randoms(use_true_random=False))
def test_statement_order_never_changes_a_verdict(policy: dict[str, Any], rnd: Any) -> None:
    shuffled = copy.deepcopy(policy)
    rnd.shuffle(shuffled["Statement"])
    a, b = analyze_policy(policy, ZONE), analyze_policy(shuffled, ZONE)
    assert a.verdict == b.verdict
    assert a.exposed_actions == b.exposed_actions


@SETTINGS
@given(policies(), st.sampled_from(["*", {"AWS": "*"}, {"AWS": ["*"]}]))
def test_wildcard_principal_forms_are_equivalent(policy: dict[str, Any], form: Any) -> None:
    def with_form(f: Any) -> dict[str, Any]:
        out = copy.deepcopy(policy)
        for s in out["Statement"]:
            if s["Principal"] in ("*", {"AWS": "*"}):
                s["Principal"] = f
        return out

    a, b = analyze_policy(with_form("*"), ZONE), analyze_policy(with_form(form), ZONE)
    assert (a.verdict, a.exposed_actions) == (b.verdict, b.exposed_actions)


@SETTINGS
@given(policies())
def test_every_witness_is_allowed_and_outside_the_zone(policy: dict[str, Any]) -> None:
    assessment = analyze_policy(policy, ZONE)
    parsed = parse_policy(policy)
    for e in assessment.exposures:
        w = e.witness
        if w is None or e.kind == "grant":
            continue
        assert not ZONE.contains_account(w.account)
        assert not ZONE.contains_org(w.org_id)
        request = Request(
            principal=w.principal,
            account=w.account,
            action=w.action,
            principal_type=w.principal_type,
            org_id=w.org_id,
            context=w.context_dict(),
        )
        assert evaluate(parsed, request, key_account=OWN).allowed


def _outsider_requests(action: str) -> list[Request]:
    """A grid of concrete outside callers, independent of the solver."""
    out = []
    for account in ("999988887777", "210987654321"):
        for org in (None, "o-otherorg1234", "o-exampleorgid"):
            if org == "o-exampleorgid":
                continue  # a member of the own organization is inside the zone
            for role in ("app", "partner", "attacker"):
                for ctx in (
                    {},
                    {"kms:ViaService": ["s3.us-east-1.amazonaws.com"]},
                    {"aws:SourceIp": ["203.0.113.9"]},
                    {"aws:SourceVpce": ["vpce-0abc"], "aws:SecureTransport": ["false"]},
                ):
                    context = dict(ctx)
                    if org:
                        context["aws:PrincipalOrgPaths"] = [f"{org}/r-ab12/"]
                    out.append(
                        Request(
                            principal=f"arn:aws:iam::{account}:role/{role}",
                            account=account,
                            action=action,
                            org_id=org,
                            context=context,
                        )
                    )
    return out


@SETTINGS
@given(policies())
def test_private_means_no_outsider_in_a_grid_is_allowed(policy: dict[str, Any]) -> None:
    assessment = analyze_policy(policy, ZONE)
    parsed = parse_policy(policy)
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:DescribeKey"):
        allowed = [
            r for r in _outsider_requests(action) if evaluate(parsed, r, key_account=OWN).allowed
        ]
        if allowed:
            assert assessment.verdict is not Verdict.PRIVATE, allowed[0]
            assert action in assessment.exposed_actions


@SETTINGS
@given(policies())
def test_shortcuts_agree_with_the_solver(policy: dict[str, Any]) -> None:
    fast = analyze_policy(policy, ZONE)
    exhaustive = analyze_policy(policy, ZONE, shortcuts=False)
    assert fast.verdict == exhaustive.verdict
    assert fast.exposed_actions == exhaustive.exposed_actions
