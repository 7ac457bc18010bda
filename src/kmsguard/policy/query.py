"""What the analysis asks the solver and what it gets back, without Z3: the stage of a
query (which attackers it admits), its answer (`Found`), the give-up error, the constants a
policy names, and the polishing of a solver-made request into a readable witness.

Kept apart from the solver so the common path (policies the shortcuts decide) never imports
Z3, which costs a fifth of a short run's start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from .document import Comparator, Policy
from .evaluator import Request

_ACCOUNT_IN_TEXT = re.compile(r"(?<!\d)\d{12}(?!\d)")
_ORG_IN_TEXT = re.compile(r"o-[a-z0-9]{10,32}")


class UndecidedError(Exception):
    """The solver gave up (resource budget spent, or an unsupported construct)."""


@dataclass(frozen=True, slots=True)
class Stage:
    """Which attackers a query admits."""

    fresh_identity: bool  # True: an unknown account/org (public); False: any outside account
    open_network: bool  # True: no VPC endpoint and an IP outside every CIDR the policy names


@dataclass(frozen=True, slots=True)
class Found:
    request: Request
    account_named: bool
    org_named: bool
    userid_token: str | None


def policy_constants(policy: Policy) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    """Account ids and org ids written anywhere in the policy; CIDRs in IP conditions."""
    texts: list[str] = []
    cidrs: list[str] = []
    for s in policy.statements:
        texts.extend(e.value for e in s.principals)
        for c in s.conditions:
            texts.extend(c.values)
            if c.comparator is Comparator.IP:
                cidrs.extend(c.values)
    text = "\n".join(texts)  # one search per pattern; a line break ends every match
    return (
        frozenset(_ACCOUNT_IN_TEXT.findall(text)),
        frozenset(_ORG_IN_TEXT.findall(text)),
        tuple(cidrs),
    )


def partition_of(policy: Policy) -> str:
    """The AWS partition the policy's ARNs live in (callers' ARNs are in the same one)."""
    texts = [e.value for s in policy.statements for e in s.principals]
    texts += [v for s in policy.statements for c in s.conditions for v in c.values]
    for partition in ("aws-cn", "aws-us-gov"):
        if any(t.startswith(f"arn:{partition}:") for t in texts):
            return partition
    return "aws"


def userid_tokens(policy: Policy) -> tuple[str, ...]:
    """Unique-id prefixes named in aws:userid conditions (`AROAEXAMPLE:*` -> `AROAEXAMPLE`):
    an unknown attacker cannot own them."""
    out: set[str] = set()
    for s in policy.statements:
        for c in s.conditions:
            if c.key != "aws:userid":
                continue
            for v in c.values:
                head = re.split(r"[:*?$]", v, maxsplit=1)[0]
                if len(head) >= 5:
                    out.add(head)
    return tuple(sorted(out))


_IAM_NAME = re.compile(
    r"^arn:aws:(iam|sts)::\d{12}:(root|(role|user|federated-user)/[\w+=,.@/-]+)$"
)


def prettier(found: Found, confirm: Callable[[Request], bool]) -> Found:
    """Prefer a readable role (`role/kmsguard-witness`), a documentation IPv4 address and a
    readable unique id over solver-made values such as `federated-user/_B` or `::`, keeping
    each change only if the concrete evaluator still allows the request."""
    r = found.request
    tweaks: list[dict[str, list[str]]] = []
    ips = r.context.get("aws:sourceip")
    if ips and ":" in ips[0]:
        tweaks.append({"aws:sourceip": ["198.51.100.23"]})
    best = r
    candidates = []
    if not (r.principal_type == "AssumedRole" and _IAM_NAME.match(r.principal)):
        candidates.append(
            replace(
                r,
                principal=f"arn:aws:iam::{r.account}:role/kmsguard-witness",
                principal_type="AssumedRole",
                # a role session carries no aws:username, and a user's unique id is no role's
                context={
                    k: v
                    for k, v in r.context.items()
                    if k != "aws:username"
                    and not (k == "aws:userid" and not any(x.startswith("AROA") for x in v))
                },
            )
        )
    if r.principal_type == "User" and not _IAM_NAME.match(r.principal):
        # a user whose unique id or name the policy asks about: keep the type and the name
        # the policy asks for (aws:username), else a readable one
        asked = list(r.context.get("aws:username") or ())
        name = asked[0] if asked and re.fullmatch(r"[\w+=,.@-]+", asked[0]) else "kmsguard-witness"
        context = dict(r.context)
        if "aws:username" in context:
            context["aws:username"] = [name]
        candidates.append(
            replace(
                r,
                principal=f"arn:aws:iam::{r.account}:user/{name}",
                principal_type="User",
                context=context,
            )
        )
    if "//" in r.principal:
        # `role//app` names what `role/app` names to the policy's patterns more often than not
        candidates.append(
            replace(
                r,
                principal=re.sub(r"(?<=:)(role|user)/+", r"\1/", r.principal).replace("//", "/"),
                context=dict(r.context),
            )
        )
    for candidate in candidates:
        if confirm(candidate):
            best = candidate
            break
    if "aws:userid" in r.context and not found.userid_token:
        readable = {
            "AssumedRole": f"AROAKMSGUARDWITNESS01:{r.account}",
            "User": "AIDAKMSGUARDWITNESS01",
            "Account": r.account or "",
        }.get(best.principal_type)
        if readable:
            tweaks.append({"aws:userid": [readable]})
    for tweak in tweaks:
        candidate = replace(best, context={**best.context, **tweak})
        if confirm(candidate):
            best = candidate
    if best is r:
        return found
    return Found(best, found.account_named, found.org_named, found.userid_token)
