"""The planner: what it replaces, what it keeps, and how it names callers and actions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmsguard.errors import InputError
from kmsguard.model import TrustZone
from kmsguard.policy.remediation import ObservedCaller, Strategy, plan_remediation, verify

A = "111122223333"
X = "444455556666"
ZONE = TrustZone(account=A)
ROOT_ADMIN = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
              "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"}
GUARD = {"Sid": "NoDeletion", "Effect": "Deny", "Principal": "*",
         "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}
APP = f"arn:aws:iam::{A}:role/app"
BATCH = f"arn:aws:iam::{A}:role/batch"
EXT = f"arn:aws:iam::{X}:role/partner"


def doc(*stmts: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Id": "key-policy-1", "Statement": list(stmts)}


def public(actions: Any, sid: str | None = "Use", **extra: Any) -> dict[str, Any]:
    stmt = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": actions, "Resource": "*"}
    if sid:
        stmt = {"Sid": sid, **stmt}
    return {**stmt, **extra}


def caller(principal: str, *actions: str, **kw: Any) -> ObservedCaller:
    account = kw.pop("account", principal.split(":")[4] if principal.startswith("arn:") else A)
    return ObservedCaller(principal, account, tuple((a, 1) for a in sorted(actions)), **kw)


def planned(old: dict[str, Any], callers: tuple[ObservedCaller, ...], **kw: Any) -> dict[str, Any]:
    plan = plan_remediation(json.dumps(old), callers, kw.pop("zone", ZONE), key_account=A, **kw)
    result = verify(
        json.dumps(old), plan.new_policy, callers, ZONE, key_account=A,
        keep_external=kw.get("keep_external", frozenset()),
    )
    assert result.ok, result.failures
    new: dict[str, Any] = json.loads(plan.new_policy)
    return new


def by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s.get("Sid", ""): s for s in policy["Statement"]}


def test_admin_statements_deny_guards_sids_and_order_are_kept() -> None:
    old = doc(ROOT_ADMIN, public(["kms:Decrypt", "kms:Encrypt"]), GUARD)
    new = planned(old, (caller(APP, "kms:Decrypt"),))
    assert new["Id"] == "key-policy-1"
    assert new["Statement"][0] == ROOT_ADMIN
    assert new["Statement"][-1] == GUARD
    use = by_sid(new)["Use"]
    assert use["Principal"] == {"AWS": APP}
    assert use["Action"] == "kms:Decrypt"


def test_callers_with_the_same_actions_share_a_statement() -> None:
    old = doc(ROOT_ADMIN, public(["kms:Decrypt", "kms:Encrypt"]))
    new = planned(old, (caller(APP, "kms:Decrypt"), caller(BATCH, "kms:Decrypt")))
    use = by_sid(new)["Use"]
    assert use["Principal"] == {"AWS": [APP, BATCH]}
    assert len(new["Statement"]) == 2


def test_generate_data_key_family_is_grouped_when_the_statement_allowed_it() -> None:
    old = doc(ROOT_ADMIN, public(["kms:Decrypt", "kms:GenerateDataKey*"]))
    new = planned(old, (caller(APP, "kms:Decrypt", "kms:GenerateDataKey"),))
    assert by_sid(new)["Use"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]


def test_grouping_never_widens_the_old_statement() -> None:
    old = doc(ROOT_ADMIN, public(["kms:Decrypt", "kms:GenerateDataKey"]))
    new = planned(old, (caller(APP, "kms:Decrypt", "kms:GenerateDataKey"),))
    assert by_sid(new)["Use"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_without_plaintext_alone_is_not_widened_to_the_family() -> None:
    old = doc(ROOT_ADMIN, public("kms:*"))
    new = planned(old, (caller(APP, "kms:GenerateDataKeyWithoutPlaintext"),))
    assert by_sid(new)["Use"]["Action"] == "kms:GenerateDataKeyWithoutPlaintext"


def test_existing_conditions_are_kept_on_the_replacement() -> None:
    via = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    old = doc(ROOT_ADMIN, public("kms:Decrypt", Condition=via))
    c = caller(APP, "kms:Decrypt", via_services=("s3.us-east-1.amazonaws.com",))
    new = planned(old, (c,))
    assert by_sid(new)["Use"]["Condition"] == via


def test_service_principal_is_pinned_to_its_source_account() -> None:
    old = doc(ROOT_ADMIN, public(["kms:GenerateDataKey*", "kms:Decrypt"]))
    svc = caller("cloudtrail.amazonaws.com", "kms:GenerateDataKey", principal_type="AWSService")
    new = planned(old, (svc,))
    stmt = by_sid(new)["Use"]
    assert stmt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert stmt["Condition"] == {"StringEquals": {"aws:SourceAccount": A}}


def test_external_caller_would_lose_access_unless_kept() -> None:
    old = doc(ROOT_ADMIN, public("kms:Decrypt"))
    callers = (caller(APP, "kms:Decrypt"), caller(EXT, "kms:Decrypt"))
    plan = plan_remediation(json.dumps(old), callers, ZONE, key_account=A)
    assert [(x.principal, x.account, x.actions) for x in plan.would_lose_access] == [
        (EXT, X, ("kms:Decrypt",))
    ]
    assert EXT not in plan.new_policy
    kept = plan_remediation(
        json.dumps(old), callers, ZONE, key_account=A, keep_external=frozenset({X})
    )
    assert kept.would_lose_access == ()
    assert EXT in kept.new_policy
    assert kept.kept_external == (X,)


def test_unobserved_public_statement_is_removed() -> None:
    old = doc(ROOT_ADMIN, public("kms:Decrypt"), GUARD)
    plan = plan_remediation(json.dumps(old), (), ZONE, key_account=A)
    assert [c.change for c in plan.changes] == ["removed"]
    assert json.loads(plan.new_policy)["Statement"] == [ROOT_ADMIN, GUARD]


def test_cross_account_root_statement_is_fixed() -> None:
    old = doc(ROOT_ADMIN, {"Sid": "Partner", "Effect": "Allow",
                           "Principal": {"AWS": f"arn:aws:iam::{X}:root"},
                           "Action": "kms:Decrypt", "Resource": "*"})
    plan = plan_remediation(json.dumps(old), (caller(EXT, "kms:Decrypt"),), ZONE, key_account=A)
    assert [c.statement for c in plan.changes] == ["Partner"]
    assert [x.principal for x in plan.would_lose_access] == [EXT]


def test_private_policy_needs_no_fix() -> None:
    old = doc(ROOT_ADMIN, GUARD)
    plan = plan_remediation(json.dumps(old), (caller(APP, "kms:Decrypt"),), ZONE, key_account=A)
    assert not plan.changed
    assert "nothing to fix" in plan.notes[0]


def test_account_strategy_keeps_the_wildcard_with_caller_account() -> None:
    old = doc(ROOT_ADMIN, public(["kms:Decrypt", "kms:Encrypt"]))
    new = planned(old, (caller(APP, "kms:Decrypt"),), strategy=Strategy.ACCOUNT)
    use = by_sid(new)["Use"]
    assert use["Principal"] == {"AWS": "*"}
    assert use["Action"] == ["kms:Decrypt", "kms:Encrypt"]
    assert use["Condition"] == {"StringEquals": {"kms:CallerAccount": A}}


def test_account_strategy_merges_with_an_existing_operator_block() -> None:
    cond = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    old = doc(ROOT_ADMIN, public("kms:Decrypt", Condition=cond))
    new = planned(old, (), strategy=Strategy.ACCOUNT)
    assert by_sid(new)["Use"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:CallerAccount": A}
    }


def test_account_strategy_intersects_an_existing_caller_account_pin() -> None:
    cond = {"StringLike": {"aws:PrincipalArn": "*"},
            "StringEquals": {"kms:CallerAccount": [A, X]}}
    old = doc(ROOT_ADMIN, public("kms:Decrypt", Condition=cond))
    plan = plan_remediation(json.dumps(old), (), ZONE, key_account=A, strategy=Strategy.ACCOUNT)
    stmt = by_sid(json.loads(plan.new_policy))["Use"]
    assert stmt["Condition"]["StringEquals"] == {"kms:CallerAccount": A}


def test_org_strategy_needs_an_org_id() -> None:
    with pytest.raises(InputError, match="org"):
        plan_remediation(json.dumps(doc(ROOT_ADMIN)), (), ZONE, key_account=A,
                         strategy=Strategy.ORG)


def test_org_strategy_adds_principal_org_id() -> None:
    org = "o-abcdef1234"
    zone = TrustZone(account=A, trusted_orgs=frozenset({org}))
    old = doc(ROOT_ADMIN, public("kms:Decrypt"))
    plan = plan_remediation(json.dumps(old), (), zone, key_account=A, strategy=Strategy.ORG,
                            org_id=org)
    stmt = by_sid(json.loads(plan.new_policy))["Use"]
    assert stmt["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": org}}


def test_every_exposing_statement_is_found_even_when_another_covers_the_action() -> None:
    old = doc(ROOT_ADMIN, public("kms:Decrypt", sid="One"), public("kms:Decrypt", sid="Two"))
    plan = plan_remediation(json.dumps(old), (), ZONE, key_account=A)
    assert sorted(c.statement for c in plan.changes) == ["One", "Two"]


def test_not_action_statement_becomes_an_action_list() -> None:
    old = doc(ROOT_ADMIN, {"Sid": "Use", "Effect": "Allow", "Principal": "*",
                           "NotAction": "kms:ScheduleKeyDeletion", "Resource": "*"})
    new = planned(old, (caller(APP, "kms:Decrypt"),))
    use = by_sid(new)["Use"]
    assert "NotAction" not in use
    assert use["Action"] == "kms:Decrypt"


def test_statement_without_sid_gets_none() -> None:
    old = doc(ROOT_ADMIN, public("kms:Decrypt", sid=None))
    new = planned(old, (caller(APP, "kms:Decrypt"),))
    assert "Sid" not in new["Statement"][1]
    assert new["Statement"][1]["Principal"] == {"AWS": APP}


def test_named_inside_principals_keep_their_grant_when_an_outside_one_is_removed() -> None:
    admin = f"arn:aws:iam::{A}:role/key-admin"
    old = doc({"Sid": "Admins", "Effect": "Allow",
               "Principal": {"AWS": [admin, f"arn:aws:iam::{X}:root"]},
               "Action": "kms:*", "Resource": "*"})
    plan = plan_remediation(json.dumps(old), (caller(EXT, "kms:Decrypt"),), ZONE, key_account=A)
    assert [c.change for c in plan.changes] == ["narrowed"]
    new = json.loads(plan.new_policy)
    assert new["Statement"] == [{**old["Statement"][0], "Principal": {"AWS": admin}}]
    assert [x.principal for x in plan.would_lose_access] == [EXT]
    assert verify(json.dumps(old), plan.new_policy, (), ZONE, key_account=A).ok


def test_observed_key_manager_keeps_put_key_policy() -> None:
    """A role seen calling PutKeyPolicy through the public statement is a lockout candidate;
    the plan names it with that action, so it keeps managing the key."""
    old = doc(ROOT_ADMIN, public("kms:*"))
    manager = caller(f"arn:aws:iam::{A}:role/deployer", "kms:PutKeyPolicy", "kms:DescribeKey")
    plan = plan_remediation(json.dumps(old), (manager,), ZONE, key_account=A)
    result = verify(json.dumps(old), plan.new_policy, (manager,), ZONE, key_account=A)
    assert manager.principal in {p.principal for p in result.lockout}
    assert result.ok, result.failures


def test_account_root_managing_only_through_the_wildcard_makes_the_plan_unsafe() -> None:
    """Without an admin statement the root user could manage the key only through the
    public statement; a plan that names only the observed role would take that away."""
    old = doc(public("kms:*"))
    manager = caller(f"arn:aws:iam::{A}:role/deployer", "kms:PutKeyPolicy")
    plan = plan_remediation(json.dumps(old), (manager,), ZONE, key_account=A)
    result = verify(json.dumps(old), plan.new_policy, (manager,), ZONE, key_account=A)
    assert not result.lockout_ok
    assert [p.principal for p in result.lockout if not p.allowed_after] == [
        f"arn:aws:iam::{A}:root"
    ]
