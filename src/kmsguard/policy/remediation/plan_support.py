"""The planner's helpers: raw policy documents (statements, principals, the policy without
its account principals) and the requests an observed caller stands for.

Only `plan` (and `kmsguard.fix`) use these. The verifier (`verify`) has its own reading of
documents and evidence, so a bug here cannot hide a bad plan from it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from kmsguard.model import TrustZone
from kmsguard.policy.document import Policy, element, load_document, parse_policy
from kmsguard.policy.evaluator import Request, evaluate
from kmsguard.policy.principals import read_aws_principal

from .evidence import ObservedCaller, ObservedRequest


def replay_requests(caller: ObservedCaller, action: str) -> tuple[Request, ...]:
    """The request contexts one observed (caller, action) stands for: its distinct request
    shapes when known, else one per service it came through (or a direct call) and per VPC
    endpoint it came from (or none)."""
    base: dict[str, list[str]] = {k: list(v) for k, v in caller.context}
    if caller.is_service:
        base.setdefault("aws:SourceAccount", [caller.account])
    shapes = [r for r in caller.requests if r.action == action]
    if not shapes:
        shapes = [
            ObservedRequest(action, via, vpce)
            for via in caller.via_services or (None,)
            for vpce in caller.vpc_endpoints or (None,)
        ]
    requests = []
    for shape in shapes:
        ctx = {k: list(v) for k, v in base.items()}
        ctx.update({k: list(v) for k, v in shape.context})
        if shape.via_service is not None:
            ctx["kms:ViaService"] = [shape.via_service]
        if shape.vpc_endpoint is not None:
            ctx["aws:SourceVpce"] = [shape.vpc_endpoint]
        requests.append(
            Request(
                principal=caller.principal,
                account=caller.account,
                action=action,
                principal_type=caller.principal_type,
                context=ctx,
                org_id=caller.org_id,
                service=caller.principal if caller.is_service else None,
            )
        )
    return tuple(requests)


def caller_trusted(caller: ObservedCaller, zone: TrustZone, keep_external: Iterable[str]) -> bool:
    """Inside the zone of trust, or an outside account the user chose to keep."""
    return (
        zone.contains_account(caller.account)
        or caller.account in set(keep_external)
        or zone.contains_org(caller.org_id)
    )


def policy_document(raw: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """The decoded JSON object of a policy (validated by the engine's parser)."""
    doc = load_document(raw)
    parse_policy(doc)  # raises PolicyParseError with a JSON path
    return copy.deepcopy(dict(doc))


def statements_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = element(doc, "Statement")
    raw = found[1] if found else []
    if isinstance(raw, Mapping):
        raw = [raw]
    return [dict(s) for s in raw if isinstance(s, Mapping)]


def statement_label(stmt: Mapping[str, Any], index: int) -> str:
    sid = element(stmt, "Sid")
    return str(sid[1]) if sid and sid[1] not in (None, "") else f"#{index}"


def is_allow(stmt: Mapping[str, Any]) -> bool:
    effect = element(stmt, "Effect")
    return effect is not None and effect[1] == "Allow"


def principal_values(stmt: Mapping[str, Any], name: str = "Principal") -> list[tuple[str, str]]:
    """(kind, value) for every principal value of a statement; `"*"` gives ("*", "*")."""
    found = element(stmt, name)
    if found is None:
        return []
    value = found[1]
    if value == "*":
        return [("*", "*")]
    out: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for kind, vals in value.items():
            for v in [vals] if isinstance(vals, str) else list(vals or []):
                out.append((str(kind), str(v)))
    return out


def is_account_principal(value: str) -> bool:
    return read_aws_principal(value).kind == "account"


def account_of_principal(value: str) -> str | None:
    return read_aws_principal(value).account


def without_account_roots(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The policy with account principals removed from every Allow statement.

    An account principal delegates to that account's IAM policies; what is left is what
    the key policy grants by itself. None when no statement is left.
    """
    kept: list[dict[str, Any]] = []
    for stmt in statements_of(doc):
        if not is_allow(stmt) or element(stmt, "Principal") is None:
            kept.append(stmt)
            continue
        key, value = element(stmt, "Principal") or ("Principal", None)
        if not isinstance(value, Mapping):
            kept.append(stmt)
            continue
        new_value: dict[str, Any] = {}
        for kind, vals in value.items():
            items = [vals] if isinstance(vals, str) else list(vals or [])
            if str(kind).lower() == "aws":
                items = [v for v in items if not is_account_principal(str(v))]
            if items:
                new_value[kind] = items
        if new_value:
            stmt = dict(stmt)
            stmt[key] = new_value
            kept.append(stmt)
    if not kept:
        return None
    out = {k: v for k, v in doc.items() if k.lower() != "statement"}
    out["Statement"] = kept
    return out


def parsed(doc: Mapping[str, Any] | None) -> Policy | None:
    return None if doc is None else parse_policy(doc)


def allows(policy: Policy | None, request: Request, key_account: str) -> bool:
    if policy is None:
        return False
    return evaluate(policy, request, key_account=key_account).allowed
