"""Values not known before deployment, inside strings of a key policy.

A template often builds ARNs from inputs without a default:
`arn:aws:iam::${AWS::AccountId}:role/${RoleName}`. The account is known; only a name is
not. Resolvers put `MARKER` where such a value goes; `settle` then decides whether the
unknown parts can matter to exposure. They cannot in a `Sid`, a `Resource`, a service
principal's name, or the resource part of an ARN whose account is known — those are
replaced by a placeholder. Anywhere else (an account field, a whole principal, an action,
a condition value that is not such an ARN) the policy stays unresolved.
"""

from __future__ import annotations

import json
from typing import Any

from .items import Unresolved

MARKER = "\u27e6unknown\u27e7"
PLACEHOLDER = "unknown"


def _arn_name_only(value: str) -> bool:
    """An ARN whose partition, service, region and account are free of unknowns."""
    if not value.startswith("arn:"):
        return False
    parts = value.split(":", 5)
    return len(parts) == 6 and all(MARKER not in p for p in parts[:5])


def settle_string(value: str, where: str) -> str:
    if MARKER not in value:
        return value
    if _arn_name_only(value):
        return value.replace(MARKER, PLACEHOLDER)
    raise Unresolved(f"a value not known before deployment decides {where}")


def _settle_values(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return settle_string(value, where)
    if isinstance(value, list):
        return [_settle_values(v, where) for v in value]
    if isinstance(value, dict):
        return {k: _settle_values(v, where) for k, v in value.items()}
    return value


def _settle_principal(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for kind, ids in value.items():
            if kind == "Service":
                out[kind] = _replace_all(ids)
            else:
                out[kind] = _settle_values(ids, "a principal")
        return out
    return _settle_values(value, "a principal")


def _replace_all(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(MARKER, PLACEHOLDER)
    if isinstance(value, list):
        return [_replace_all(v) for v in value]
    return value


#: Condition keys that pin who the caller is: an unknown value there decides exposure.
IDENTITY_KEYS = frozenset(
    k.lower()
    for k in (
        "kms:CallerAccount", "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths", "aws:userid", "aws:SourceAccount", "aws:SourceArn",
        "aws:SourceOwner", "aws:SourceOrgID", "aws:SourceOrgPaths", "aws:ResourceAccount",
        "aws:ResourceOrgID", "aws:ResourceOrgPaths", "kms:GranteePrincipal",
        "kms:RetiringPrincipal", "aws:username",
    )
)  # fmt: skip


def _settle_condition(value: Any) -> Any:
    if not isinstance(value, dict):
        return _settle_values(value, "a condition")
    out: dict[str, Any] = {}
    for op, block in value.items():
        if not isinstance(block, dict):
            out[op] = _settle_values(block, "a condition")
            continue
        out[op] = {
            key: (
                _settle_values(vals, f"the condition on `{key}`")
                if key.lower() in IDENTITY_KEYS or MARKER in key
                else _replace_all(vals)
            )
            for key, vals in block.items()
        }
    return out


def _settle_statement(st: Any) -> Any:
    if not isinstance(st, dict):
        return _settle_values(st, "a statement")
    out: dict[str, Any] = {}
    for key, value in st.items():
        match key:
            case "Sid":
                out[key] = _replace_all(value)
            case "Resource" | "NotResource":
                # a resource naming another key would not apply: "*" is the safe reading
                out[key] = "*" if MARKER in json.dumps(value, ensure_ascii=False) else value
            case "Principal" | "NotPrincipal":
                out[key] = _settle_principal(value)
            case "Condition":
                out[key] = _settle_condition(value)
            case _:
                out[key] = _settle_values(value, f"`{key}`")
    return out


def settle(policy: Any) -> tuple[Any, bool]:
    """The policy with harmless unknowns replaced, and whether any were. Raises
    Unresolved when an unknown part can decide exposure."""
    text = policy if isinstance(policy, str) else json.dumps(policy, ensure_ascii=False)
    if MARKER not in text and "\\u27e6unknown\\u27e7" not in text:
        return policy, False
    doc = policy
    if isinstance(policy, str):
        try:
            doc = json.loads(policy)
        except json.JSONDecodeError:
            raise Unresolved("a value not known before deployment is in the policy") from None
    if not isinstance(doc, dict):
        raise Unresolved("a value not known before deployment is in the policy")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "Statement":
            statements = value if isinstance(value, list) else [value]
            settled = [_settle_statement(s) for s in statements]
            out[key] = settled if isinstance(value, list) else settled[0]
        elif key in ("Id", "Version"):
            out[key] = _replace_all(value)
        else:
            out[key] = _settle_values(value, f"`{key}`")
    return out, True
