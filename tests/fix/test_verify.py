"""The verifier judges a replacement policy on its own: each check must be able to fail."""

from __future__ import annotations

import json
from typing import Any

from kmsguard.model import TrustZone, Verdict
from kmsguard.policy.remediation import ObservedCaller, ObservedRequest, ReplayOutcome, verify
from kmsguard.policy.remediation.plan_support import without_account_roots
from kmsguard.policy.remediation.verify import MAX_POLICY_BYTES

A = "111122223333"
X = "444455556666"
ZONE = TrustZone(account=A)
ROOT_ADMIN = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
              "Action": "kms:*", "Resource": "*"}
APP = f"arn:aws:iam::{A}:role/app"
EXT = f"arn:aws:iam::{X}:role/partner"


def doc(*stmts: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(stmts)})


def allow(principal: Any, action: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


OLD = doc(ROOT_ADMIN, allow("*", ["kms:Decrypt", "kms:Encrypt"]))
CALLERS = (
    ObservedCaller(APP, A, (("kms:Decrypt", 5),)),
    ObservedCaller(EXT, X, (("kms:Decrypt", 2),)),
)


def checks(result: Any) -> dict[str, bool]:
    return {c.name: c.ok for c in result.checks}


def test_good_replacement_passes_every_check() -> None:
    new = doc(ROOT_ADMIN, allow({"AWS": APP}, "kms:Decrypt"))
    result = verify(OLD, new, CALLERS, ZONE, key_account=A)
    assert result.ok, result.failures
    assert result.verdict_after is Verdict.PRIVATE
    outcomes = {(r.principal, r.outcome) for r in result.replay}
    assert outcomes == {(APP, ReplayOutcome.KEPT), (EXT, ReplayOutcome.DROPPED)}
    assert result.lockout_ok


def test_root_delegation_does_not_count_as_keeping_a_caller() -> None:
    """Dropping the statement that named the app leaves only IAM delegation: that is not
    'allowed by the key policy alone', so the replay fails."""
    new = doc(ROOT_ADMIN)
    result = verify(OLD, new, CALLERS, ZONE, key_account=A)
    assert checks(result)["replay"] is False
    assert ReplayOutcome.BROKEN in {r.outcome for r in result.replay}


def test_caller_that_relied_on_iam_delegation_stays_on_that_footing() -> None:
    old = doc(ROOT_ADMIN, allow({"AWS": f"arn:aws:iam::{X}:root"}, "kms:Decrypt"))
    result = verify(old, doc(ROOT_ADMIN), (CALLERS[0],), ZONE, key_account=A)
    assert result.ok
    (replayed,) = result.replay
    assert replayed.outcome is ReplayOutcome.KEPT
    assert replayed.iam_dependent


def test_still_public_fails_the_verdict_check() -> None:
    result = verify(OLD, OLD, CALLERS, ZONE, key_account=A)
    assert checks(result)["verdict"] is False
    assert result.verdict_after is Verdict.PUBLIC
    assert ReplayOutcome.EXTERNAL_STILL_ALLOWED in {r.outcome for r in result.replay}


def test_kept_external_account_may_stay_cross_account() -> None:
    new = doc(ROOT_ADMIN, allow({"AWS": [APP, EXT]}, "kms:Decrypt"))
    refused = verify(OLD, new, CALLERS, ZONE, key_account=A)
    assert checks(refused)["verdict"] is False
    kept = verify(OLD, new, CALLERS, ZONE, key_account=A, keep_external=frozenset({X}))
    assert kept.ok, kept.failures
    assert kept.verdict_after is Verdict.CROSS_ACCOUNT


def test_lockout_of_named_admin_is_caught() -> None:
    admin = f"arn:aws:iam::{A}:role/key-admin"
    old = doc(allow({"AWS": admin}, "kms:*"), allow("*", "kms:Decrypt"))
    new = doc(allow({"AWS": APP}, "kms:Decrypt"))
    result = verify(old, new, (CALLERS[0],), ZONE, key_account=A)
    assert checks(result)["lockout"] is False
    assert not result.lockout_ok
    assert admin in {p.principal for p in result.lockout if not p.allowed_after}


def test_lockout_of_account_root_is_caught() -> None:
    old = doc(ROOT_ADMIN, allow("*", "kms:Decrypt"))
    new = doc(allow({"AWS": APP}, "kms:Decrypt"))
    result = verify(old, new, (CALLERS[0],), ZONE, key_account=A)
    assert not result.lockout_ok


def test_external_put_key_policy_is_not_a_lockout_candidate() -> None:
    """KMS accepts PutKeyPolicy only from the key's own account."""
    old = doc(ROOT_ADMIN, allow({"AWS": f"arn:aws:iam::{X}:root"}, "kms:*"))
    result = verify(old, doc(ROOT_ADMIN), (), ZONE, key_account=A)
    assert result.ok
    assert {p.account for p in result.lockout} == {A}


def test_wildcard_principal_arn_fails() -> None:
    new = doc(ROOT_ADMIN, allow({"AWS": f"arn:aws:iam::{A}:role/app-*"}, "kms:Decrypt"))
    result = verify(OLD, new, (), ZONE, key_account=A)
    assert checks(result)["principals"] is False


def test_oversized_policy_fails() -> None:
    roles = [f"arn:aws:iam::{A}:role/r{i:05d}-{'x' * 40}" for i in range(600)]
    new = doc(ROOT_ADMIN, allow({"AWS": roles}, "kms:Decrypt"))
    assert len(new.encode()) > MAX_POLICY_BYTES
    result = verify(OLD, new, (), ZONE, key_account=A)
    assert checks(result)["size"] is False


def test_malformed_policy_fails_well_formed() -> None:
    result = verify(OLD, '{"Statement": []}', CALLERS, ZONE, key_account=A)
    assert checks(result) == {"well-formed": False}
    assert result.verdict_after is Verdict.ERROR
    assert not result.ok


def test_observed_request_shapes_are_replayed_with_their_context() -> None:
    old = doc(
        ROOT_ADMIN,
        allow("*", "kms:Decrypt",
              Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}),
    )
    caller = ObservedCaller(
        APP, A, (("kms:Decrypt", 4),),
        requests=(
            ObservedRequest("kms:Decrypt", via_service="s3.us-east-1.amazonaws.com", count=3),
            ObservedRequest("kms:Decrypt", count=1),  # direct: the old policy never allowed it
        ),
    )
    new_ok = doc(
        ROOT_ADMIN,
        allow({"AWS": APP}, "kms:Decrypt",
              Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}),
    )
    assert verify(old, new_ok, (caller,), ZONE, key_account=A).ok
    new_bad = doc(
        ROOT_ADMIN,
        allow({"AWS": APP}, "kms:Decrypt",
              Condition={"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}),
    )
    assert checks(verify(old, new_bad, (caller,), ZONE, key_account=A))["replay"] is False


def test_calls_the_old_policy_never_allowed_are_not_required() -> None:
    admin = {**ROOT_ADMIN, "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"]}
    old = doc(admin, allow("*", "kms:Encrypt"))
    caller = ObservedCaller(APP, A, (("kms:Sign", 3),))  # e.g. allowed by a grant
    result = verify(old, doc(admin), (caller,), ZONE, key_account=A)
    assert result.ok
    assert result.replay[0].outcome is ReplayOutcome.NOT_FROM_KEY_POLICY


def test_without_account_roots_keeps_denies_and_named_principals() -> None:
    d = json.loads(doc(
        ROOT_ADMIN,
        allow({"AWS": [f"arn:aws:iam::{A}:root", APP, X]}, "kms:Decrypt"),
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:Sign",
         "Resource": "*"},
    ))
    stripped = without_account_roots(d)
    assert stripped is not None
    stmts = stripped["Statement"]
    assert len(stmts) == 2
    assert stmts[0]["Principal"] == {"AWS": [APP]}
    assert stmts[1]["Effect"] == "Deny"
    assert without_account_roots(json.loads(doc(ROOT_ADMIN))) is None
