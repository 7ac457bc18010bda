"""The property "every offered plan passes the verifier" can fail: the verifier shares no
code with the planner (an import-linter contract keeps it so), so a broken planner — or a
bug in one of the planner's own helpers — produces plans the verifier rejects."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from kmsguard.model import TrustZone
from kmsguard.policy.remediation import ObservedCaller, plan_remediation, plan_support, verify
from kmsguard.policy.remediation import plan as planner

A = "111122223333"
X = "444455556666"
ZONE = TrustZone(account=A)
ADMIN = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
         "Action": "kms:*", "Resource": "*"}
USE = {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": "*"},
       "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*"}
OLD = json.dumps({"Version": "2012-10-17", "Statement": [ADMIN, USE]})
APP = f"arn:aws:iam::{A}:role/app"
PARTNER = f"arn:aws:iam::{X}:role/partner"
CALLERS = (
    ObservedCaller(APP, A, (("kms:Decrypt", 12),)),
    ObservedCaller(PARTNER, X, (("kms:Decrypt", 3),)),
)


def judge(new_policy: str) -> set[str]:
    result = verify(OLD, new_policy, CALLERS, ZONE, key_account=A)
    return {c.name for c in result.failures}


def good_plan() -> str:
    return plan_remediation(OLD, CALLERS, ZONE, key_account=A).new_policy


def test_the_real_planner_passes() -> None:
    assert judge(good_plan()) == set()


def _doc(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _unchanged() -> str:
    return OLD


def _drops_the_admin() -> str:
    new = json.loads(good_plan())
    return _doc([s for s in new["Statement"] if s.get("Sid") != "Admin"])


def _forgets_the_trusted_caller() -> str:
    return _doc([ADMIN])


def _names_the_outsider() -> str:
    new = json.loads(good_plan())
    use = copy.deepcopy(USE)
    use["Principal"] = {"AWS": [APP, PARTNER]}
    return _doc([*[s for s in new["Statement"] if s.get("Sid") != "Use"], use])


def _wildcard_arn() -> str:
    use = copy.deepcopy(USE)
    use["Principal"] = {"AWS": f"arn:aws:iam::{A}:role/app*"}
    return _doc([ADMIN, use])


@pytest.mark.parametrize(
    ("broken_planner", "failed"),
    [
        (_unchanged, {"verdict"}),
        (_drops_the_admin, {"lockout"}),
        (_forgets_the_trusted_caller, {"replay"}),
        (_names_the_outsider, {"verdict"}),
        (_wildcard_arn, {"principals", "verdict"}),
    ],
)
def test_a_broken_planner_is_rejected(broken_planner: Callable[[], str], failed: set[str]) -> None:
    assert judge(broken_planner()) >= failed


def test_a_bug_in_the_planners_own_helper_cannot_hide_from_the_verifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the planner reads the evidence with plan_support.replay_requests; break it so the
    # planner believes nobody relies on the wildcard statement. Before the verifier had its
    # own reading, it called the same helper and would have been blinded the same way.
    monkeypatch.setattr(planner, "replay_requests", lambda caller, action: ())
    monkeypatch.setattr(plan_support, "replay_requests", lambda caller, action: ())
    broken = plan_remediation(OLD, CALLERS, ZONE, key_account=A).new_policy
    assert APP not in broken  # the planner dropped the trusted caller
    result = verify(OLD, broken, CALLERS, ZONE, key_account=A)
    assert {c.name for c in result.failures} == {"replay"}
    assert any(APP in c.detail for c in result.failures)
