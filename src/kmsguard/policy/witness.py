"""A witness: the request that shows an exposure, as AWS would send it and as a report
shows it."""

from __future__ import annotations

from dataclasses import replace

from kmsguard.model import Witness

from .document import Policy
from .evaluator import Request
from .values import Var, tokens


def with_caller_id(r: Request) -> Request:
    """The request with the `aws:userid` AWS sends for every IAM caller (a role session's
    `AROA…:<session>`, a user's `AIDA…`, a federated user's `<account>:<name>`, the
    account itself for its root), unless it carries one. A witness without it would slip
    past a statement that tests it (a Deny on `AROA*` refuses every role session)."""
    if r.service is not None or any(k.lower() == "aws:userid" for k in r.context):
        return r
    name = r.principal.rsplit("/", 1)[-1]
    userid = {
        "User": "AIDAKMSGUARDWITNESS01",
        "Account": r.account or "",
        "FederatedUser": f"{r.account}:{name}",
    }.get(r.principal_type, "AROAKMSGUARDWITNESS01:kmsguard-witness")
    return replace(r, context={**r.context, "aws:userid": [userid]})


def mentioned_keys(policy: Policy) -> frozenset[str]:
    """Condition keys the policy tests, and those its `${...}` variables read."""
    keys = {c.key for s in policy.statements for c in s.conditions}
    for s in policy.statements:
        for c in s.conditions:
            for v in c.values:
                keys.update(t.key for t in tokens(v, False) if isinstance(t, Var))
    return frozenset(keys)


def as_witness(r: Request, keys: frozenset[str]) -> Witness:
    """The request as evidence: only the condition keys the policy asks about are shown."""
    ctx = tuple(sorted((k.lower(), tuple(v)) for k, v in r.context.items() if k.lower() in keys))
    return Witness(
        principal=r.principal,
        account=r.account or "",
        action=r.action,
        org_id=r.org_id,
        context=ctx,
        principal_type=r.principal_type,
    )
