"""Whose key is it? A policy file or template is judged without its owner's account: the
owner is read from the administrator statement (the account root given `kms:PutKeyPolicy`),
and the assessment says so."""

from __future__ import annotations

from dataclasses import replace

from kmsguard.model import SELF_ACCOUNT, Assessment, TrustZone

from .document import Effect, Policy
from .evaluator import action_applies
from .exposure import analyze_policy
from .principals import read_aws_principal
from .query import policy_constants


def analyze_inferring_owner(policy: Policy, zone: TrustZone) -> Assessment:
    """`analyze_policy` for a policy whose owner was not given (`zone.account` is the
    symbolic SELF_ACCOUNT): the owner is read from the administrator statement, and the
    assessment says so. A policy (a template) that also names the symbolic account — the
    deploying account, `AWS::AccountId` / `aws_caller_identity` — has an unknown owner: the
    literal administrator account may be that same account, so it is judged inside the
    zone (never as cross-account), with a note."""
    if zone.account != SELF_ACCOUNT:
        return analyze_policy(policy, zone)
    owner = infer_owner_account(policy)
    if owner is None or owner == SELF_ACCOUNT:
        return analyze_policy(policy, zone)
    if SELF_ACCOUNT in policy_constants(policy)[0]:
        a = analyze_policy(policy, replace(zone, trusted_accounts=zone.trusted_accounts | {owner}))
        note = (
            f"unknown owner: account {owner}, which the administrator statement names, is "
            "judged as the deploying account (no owner account was given)"
        )
        return replace(a, notes=(*a.notes, note))
    a = analyze_policy(policy, replace(zone, account=owner))
    note = (
        f"owner account {owner} read from the policy's administrator statement "
        "(no owner account was given)"
    )
    return replace(a, notes=(*a.notes, note))


def infer_owner_account(policy: Policy) -> str | None:
    """The account a key policy most likely belongs to: the account root (or bare id) that an
    Allow statement gives `kms:PutKeyPolicy` (the default "Enable IAM User Permissions"
    statement does). None when no statement does."""
    for s in policy.statements:
        if s.effect is not Effect.ALLOW or s.not_principal or s.conditions:
            continue
        if not action_applies(s, "kms:PutKeyPolicy"):
            continue
        for e in s.principals:
            if e.kind == "AWS":
                p = read_aws_principal(e.value)
                if p.kind == "account":
                    return p.account
    return None
