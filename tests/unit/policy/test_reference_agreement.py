"""The engine's concrete evaluator (`kmsguard.policy.evaluate`) and the independent reference
evaluator (reference.py) agree on generated policies (tricky.py's generator) and generated
requests; and the property fails when the engine's evaluator has a bug."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kmsguard.policy import Request, evaluate, parse_policy
from kmsguard.policy import evaluator as engine_evaluator
from kmsguard.policy.document import Comparator

from .reference import is_allowed
from .tricky import (
    FRESH,
    FRESH_ORG,
    OTHER,
    OTHER_ORG,
    OWN,
    OWN_ORG,
    PARTNER,
    TRUSTED,
    as_reference_request,
    tricky_policy,
)

ACCOUNTS = [OWN, TRUSTED, PARTNER, OTHER, FRESH]
ORGS = [None, OWN_ORG, OTHER_ORG, FRESH_ORG]
ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:Decapsulate", "kms:ListKeys"]
#: keys AWS derives from the caller: never sent in the request's context
DERIVED = {
    "aws:principalaccount",
    "kms:calleraccount",
    "aws:principalarn",
    "aws:principaltype",
    "aws:principalorgid",
    "aws:username",
    "aws:principalisawsservice",
    "aws:resourceaccount",
}


def _candidates(value: str) -> list[str]:
    """A policy value, and the strings its wildcards stand for."""
    return list(dict.fromkeys([value, re.sub(r"[*?]", "x", value), re.sub(r"[*?]", "", value)]))


def respelled(policy: dict[str, Any], case: Any) -> dict[str, Any]:
    """The same policy as IAM reads it, spelled otherwise: operator names, condition key
    names and actions in another case (IAM reads them case-insensitively), and a single
    statement as an object instead of a list."""
    statements = []
    for s in policy["Statement"]:
        s = dict(s)
        for element in ("Action", "NotAction"):
            if element in s:
                s[element] = [case(a) for a in s[element]]
        if "Condition" in s:
            s["Condition"] = {
                case(op): {case(k): v for k, v in block.items()}
                for op, block in s["Condition"].items()
            }
        statements.append(s)
    return {**policy, "Statement": statements[0] if len(statements) == 1 else statements}


@st.composite
def policy_and_request(draw: Any) -> tuple[dict[str, Any], Request]:
    policy = tricky_policy(random.Random(draw(st.integers(0, 2**32))))
    if draw(st.booleans()):
        policy = respelled(policy, draw(st.sampled_from([str.lower, str.upper])))
    account = draw(st.sampled_from(ACCOUNTS))
    kind = draw(st.sampled_from(["Account", "User", "AssumedRole", "AssumedRole", "Service"]))
    org = draw(st.sampled_from(ORGS))
    values: dict[str, list[str]] = {}
    statements = policy["Statement"]
    for s in statements if isinstance(statements, list) else [statements]:
        for block in s.get("Condition", {}).values():
            for key, vals in block.items():
                if key.lower() not in DERIVED:
                    values.setdefault(key.lower(), []).extend(
                        c for v in vals for c in _candidates(v) if "${" not in c
                    )
    context: dict[str, list[str]] = {}
    for key, vals in sorted(values.items()):
        chosen = draw(st.lists(st.sampled_from([*vals, "other"]), max_size=2, unique=True))
        if chosen:
            context[key] = chosen
    if draw(st.booleans()):
        context["aws:sourceip"] = [draw(st.sampled_from(["10.1.2.3", "203.0.113.9", "8.8.8.8"]))]
    if org and draw(st.booleans()):
        context["aws:principalorgpaths"] = [f"{org}/r-ab12/ou-ab12-11111111/"]
    action = draw(st.sampled_from(ACTIONS))
    if kind == "Service":
        request = Request(
            principal="s3.amazonaws.com",
            account=None,
            action=action,
            service="s3.amazonaws.com",
            context=context,
        )
        return policy, request
    name = draw(st.sampled_from(["app", "app-x", "ops", "alice"]))
    principal = {
        "Account": f"arn:aws:iam::{account}:root",
        "User": f"arn:aws:iam::{account}:user/{name}",
        "AssumedRole": f"arn:aws:iam::{account}:role/{name}",
    }[kind]
    session = draw(st.sampled_from([None, "s1", "s2"])) if kind == "AssumedRole" else None
    request = Request(
        principal=principal,
        account=account,
        action=action,
        principal_type=kind,
        org_id=org,
        context=context,
        session=session,
    )
    return policy, request


def _agree(policy: dict[str, Any], request: Request) -> None:
    engine = evaluate(parse_policy(policy), request, key_account=OWN).allowed
    reference = is_allowed(policy, as_reference_request(request), key_account=OWN)
    assert engine == reference, (policy, request)


PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


#: for the deliberate bugs: more examples (it stops at the first failure), no shrinking
FIND_BUG = settings(PROPERTY, max_examples=3000, phases=[Phase.generate])


@PROPERTY
@given(policy_and_request())
def test_engine_evaluator_agrees_with_the_reference(case: tuple[dict[str, Any], Request]) -> None:
    _agree(*case)


def test_the_property_catches_a_bug_in_one_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberate bug in the engine (StringLike compares literally, ignoring wildcards):
    the same property fails."""
    real = engine_evaluator.value_matches

    def buggy(comp: Comparator, value: str, const: str, ctx: Any) -> bool:
        if comp is Comparator.LIKE:
            return value == const
        return real(comp, value, const, ctx)

    monkeypatch.setattr(engine_evaluator, "value_matches", buggy)

    @FIND_BUG
    @given(policy_and_request())
    def prop(case: tuple[dict[str, Any], Request]) -> None:
        _agree(*case)

    with pytest.raises(AssertionError):
        prop()


def test_the_property_catches_a_bug_in_absent_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberate bug: `ForAllValues` on an absent key read as false."""
    real = engine_evaluator.condition_holds

    def buggy(c: Any, ctx: Any, *, attacker_favours: bool = True) -> bool:
        if c.qualifier.value == "ForAllValues" and not ctx.get(c.key):
            return False
        return real(c, ctx, attacker_favours=attacker_favours)

    monkeypatch.setattr(engine_evaluator, "condition_holds", buggy)

    @FIND_BUG
    @given(policy_and_request())
    def prop(case: tuple[dict[str, Any], Request]) -> None:
        _agree(*case)

    with pytest.raises(AssertionError):
        prop()
