"""Terraform plan JSON (`terraform show -json plan.out`, or of a state): the most exact
input, every value is resolved. Policies come from `resource_changes` (after the change),
else `planned_values` / `values`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from kmsguard import strictjson
from kmsguard.iac.items import GrantSpec, IacItem, Variant, default_key_policy
from kmsguard.iac.terraform.modules import GRANT_RESOURCE, POLICY_RESOURCES
from kmsguard.model import Origin

_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


def is_plan(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "format_version" in doc
        and any(k in doc for k in ("planned_values", "resource_changes", "values", "prior_state"))
    )


def _module_resources(module: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(module, dict):
        return
    for r in module.get("resources") or []:
        if isinstance(r, dict):
            yield r
    for child in module.get("child_modules") or []:
        yield from _module_resources(child)


def infer_account(doc: dict[str, Any]) -> str | None:
    """The deploying account, from `data.aws_caller_identity` or an existing key's ARN."""
    roots = [
        (doc.get("prior_state") or {}).get("values", {}).get("root_module"),
        (doc.get("planned_values") or {}).get("root_module"),
        (doc.get("values") or {}).get("root_module"),
    ]
    arn_account: str | None = None
    for root in roots:
        for r in _module_resources(root):
            values = r.get("values") or {}
            if r.get("type") == "aws_caller_identity" and isinstance(values, dict):
                acct = values.get("account_id")
                if isinstance(acct, str) and acct.isdigit() and len(acct) == 12:
                    return acct
            if r.get("type") in POLICY_RESOURCES and isinstance(values, dict):
                m = _ACCOUNT_IN_ARN.match(str(values.get("arn") or ""))
                if m and arn_account is None:
                    arn_account = m.group(1)
    return arn_account


def _config_has_policy(doc: dict[str, Any], address: str) -> bool:
    """Whether the configuration sets `policy` on the resource (else AWS's default applies)."""
    module: Any = (doc.get("configuration") or {}).get("root_module")
    parts = re.sub(r"\[[^\]]*\]", "", address).split(".")
    while len(parts) > 2 and parts[0] == "module" and isinstance(module, dict):
        call = (module.get("module_calls") or {}).get(parts[1]) or {}
        module = call.get("module")
        parts = parts[2:]
    if not isinstance(module, dict):
        return True  # unknown: do not assume the default
    for r in module.get("resources") or []:
        if isinstance(r, dict) and r.get("address") == ".".join(parts):
            return "policy" in (r.get("expressions") or {})
    return True


def _line_of(text: str, address: str) -> int:
    """The line of the address as JSON writes it: `c[\\"x\\"]` for `c["x"]`."""
    m = re.search(r'"address"\s*:\s*' + re.escape(json.dumps(address)), text)
    return text.count("\n", 0, m.start()) + 1 if m else 1


def _entries(doc: dict[str, Any]) -> Iterator[tuple[str, str, Any, Any]]:
    """(address, type, values after the change, unknown-markers) of managed resources."""
    changes = doc.get("resource_changes")
    if isinstance(changes, list) and changes:
        for rc in changes:
            if not isinstance(rc, dict) or rc.get("mode", "managed") != "managed":
                continue
            change = rc.get("change") or {}
            actions = change.get("actions") or []
            if actions == ["delete"] or change.get("after") is None:
                continue
            yield (
                str(rc.get("address")),
                str(rc.get("type")),
                change.get("after"),
                change.get("after_unknown") or {},
            )
        return
    root = (doc.get("planned_values") or doc.get("values") or {}).get("root_module")
    for r in _module_resources(root):
        if r.get("mode", "managed") == "managed":
            yield str(r.get("address")), str(r.get("type")), r.get("values"), {}


def scan_plan(text: str, doc: dict[str, Any], display: str, *, account: str) -> list[IacItem]:
    own = infer_account(doc)
    items: list[IacItem] = []
    for address, rtype, after, unknown in _entries(doc):
        if rtype not in POLICY_RESOURCES and rtype != GRANT_RESOURCE:
            continue
        origin = Origin(display, _line_of(text, address), address, account=own)
        if not isinstance(after, dict):
            items.append(IacItem(origin, error="the planned values are not an object"))
            continue
        if rtype == GRANT_RESOURCE:
            items.append(IacItem(origin, variants=(_grant(after, unknown),)))
            continue
        policy = after.get("policy")
        if isinstance(unknown, dict) and unknown.get("policy") is True:
            if not _config_has_policy(doc, address):
                items.append(
                    IacItem(
                        origin,
                        variants=(Variant(policy=default_key_policy(own or account)),),
                        notes=("no `policy`: the default key policy applies",),
                    )
                )
            else:
                items.append(
                    IacItem(
                        origin,
                        variants=(Variant(unresolved="the policy is known only after apply"),),
                    )
                )
            continue
        if policy in (None, ""):
            if rtype == "aws_kms_key_policy":
                items.append(IacItem(origin, error="`policy` is empty"))
                continue
            items.append(
                IacItem(
                    origin,
                    variants=(Variant(policy=default_key_policy(own or account)),),
                    notes=("no `policy`: the default key policy applies",),
                )
            )
            continue
        items.append(IacItem(origin, variants=(Variant(policy=policy),)))
    return items


def _grant(after: dict[str, Any], unknown: Any) -> Variant:
    grantee = after.get("grantee_principal")
    if not isinstance(grantee, str) or (
        isinstance(unknown, dict) and unknown.get("grantee_principal")
    ):
        return Variant(unresolved="the grantee is known only after apply")
    retiring = after.get("retiring_principal")
    constraints = after.get("constraints") or None
    return Variant(
        grant=GrantSpec(
            grantee_principal=grantee,
            retiring_principal=retiring if isinstance(retiring, str) and retiring else None,
            operations=tuple(str(o) for o in after.get("operations") or ()),
            constraints=constraints,
            name=after.get("name") if isinstance(after.get("name"), str) else None,
        )
    )


def load_plan(text: str) -> Any:
    return strictjson.loads(text)
