"""The concrete evaluator: one request against one key policy -> a decision with reasons.

Follows IAM's evaluation logic for a key policy alone: default deny, an explicit Deny that
matches wins over any Allow. Used to confirm every witness and to replay observed calls.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from . import actions as kms_actions
from .document import Comparator, Condition, Effect, Policy, PrincipalEntry, Qualifier, Statement
from .keys import MULTIVALUED
from .principals import read_aws_principal, role_name
from .values import glob_regex, literal, literal_tokens, resolve, resource_regex, tokens


@dataclass(frozen=True)
class Request:
    """A signed KMS request as the key policy sees it.

    `principal` is the IAM form of the caller (a role ARN for role sessions, a user ARN,
    `arn:aws:iam::A:root`), or the service principal name when `service` is set.
    `context` holds any further condition keys (names are case-insensitive).
    """

    principal: str
    account: str | None
    action: str
    principal_type: str = "AssumedRole"  # Account | User | AssumedRole | FederatedUser
    org_id: str | None = None
    service: str | None = None
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: the role session name; None stands for a session the policy does not name
    session: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    allowing: tuple[str, ...]  # labels of matching Allow statements
    denying: tuple[str, ...]  # labels of matching Deny statements


def effective_context(request: Request, key_account: str | None) -> dict[str, tuple[str, ...]]:
    """The condition keys a request carries: identity keys derived from the caller, defaults
    for always-present keys, then everything in `request.context`."""
    ctx: dict[str, tuple[str, ...]] = {}
    now = datetime.now(UTC)
    ctx["aws:securetransport"] = ("true",)
    ctx["aws:currenttime"] = (now.strftime("%Y-%m-%dT%H:%M:%SZ"),)
    ctx["aws:epochtime"] = (str(int(now.timestamp())),)
    if request.service is None:
        if request.account is not None:
            ctx["aws:principalaccount"] = (request.account,)
            ctx["kms:calleraccount"] = (request.account,)
        ctx["aws:principalarn"] = (request.principal,)
        ctx["aws:principaltype"] = (request.principal_type,)
        ctx["aws:principalisawsservice"] = ("false",)
        if request.principal_type == "User":
            # an IAM user's aws:username is its friendly name (set by AWS, not the caller)
            ctx["aws:username"] = (request.principal.rsplit("/", 1)[-1],)
        if request.org_id:
            ctx["aws:principalorgid"] = (request.org_id,)
    else:
        ctx["aws:principalisawsservice"] = ("true",)
        ctx["aws:principalservicename"] = (request.service,)
    if key_account:
        ctx["aws:resourceaccount"] = (key_account,)
    for k, v in request.context.items():
        vals = (v,) if isinstance(v, str) else tuple(v)
        if vals:
            ctx[k.lower()] = vals
        else:
            ctx.pop(k.lower(), None)
    return ctx


def evaluate(
    policy: Policy, request: Request, *, key_account: str | None, key_arn: str | None = None
) -> Decision:
    ctx = effective_context(request, key_account)
    allowing: list[str] = []
    denying: list[str] = []
    for s in policy.statements:
        allow = s.effect is Effect.ALLOW
        if not action_applies(s, request.action):
            continue
        if not resource_applies(s, key_account, key_arn, for_allow=allow):
            continue
        if not principal_matches(s, request):
            continue
        if not all(condition_holds(c, ctx, attacker_favours=allow) for c in s.conditions):
            continue
        (allowing if allow else denying).append(s.label)
    return Decision(
        allowed=bool(allowing) and not denying, allowing=tuple(allowing), denying=tuple(denying)
    )


def action_applies(s: Statement, action: str) -> bool:
    return kms_actions.covers(s.actions, action) != s.not_action


# --- principals -------------------------------------------------------------------------


def restricts(s: Statement) -> bool:
    """Does the statement's principal element *restrict* (a Deny's `Principal`, an Allow's
    `NotPrincipal`) rather than grant? Where it restricts, an entry is read as narrowly as
    IAM could apply it: a wildcard ARN as its pattern, a role-session ARN as that one
    session, so that an entry never hides an Allow from someone it cannot name."""
    return (s.effect is Effect.DENY) != s.not_principal


def principal_matches(s: Statement, request: Request) -> bool:
    narrow = restricts(s)
    if s.not_principal:
        return not any(_names(e, request, listing=True, narrow=narrow) for e in s.principals)
    return any(_names(e, request, listing=False, narrow=narrow) for e in s.principals)


def _names(e: PrincipalEntry, r: Request, *, listing: bool, narrow: bool) -> bool:
    """Does the principal value name the caller? In a `NotPrincipal` list (`listing`) an
    account root names only the account itself, not its roles and users."""
    if e.kind == "*":
        return True
    if e.kind == "Service":
        return r.service is not None and r.service.lower() == e.value.lower()
    if e.kind != "AWS":
        return False  # Federated / CanonicalUser principals are not KMS callers
    if narrow and e.value != "*" and ("*" in e.value or "?" in e.value):
        return r.service is None and principal_pattern(e.value).fullmatch(r.principal) is not None
    p = read_aws_principal(e.value)
    if p.kind == "any":
        return True
    if r.service is not None:
        return False
    if p.kind == "account":
        return r.account == p.account and (not listing or r.principal_type == "Account")
    if p.kind == "arn":
        return _arn_is_caller(p.arn, p.account, p.session_of, r, narrow=narrow)
    return False


def principal_pattern(value: str) -> re.Pattern[str]:
    """A wildcard principal ARN read as ArnLike reads a pattern."""
    return glob_regex(literal_tokens(value), arn=True)


def _arn_is_caller(
    arn: str | None, account: str | None, session_of: str | None, r: Request, *, narrow: bool
) -> bool:
    if arn == r.principal:
        return True
    if session_of is None or r.principal_type != "AssumedRole" or r.account != account:
        return False
    if role_name(r.principal) != session_of:
        return False
    session = (arn or "").rsplit("/", 1)[-1]
    if narrow:
        return r.session == session  # an unnamed session is some other one
    return r.session is None or r.session == session


# --- resources --------------------------------------------------------------------------


def resource_applies(
    s: Statement, key_account: str | None, key_arn: str | None, *, for_allow: bool
) -> bool:
    """Does the statement's Resource cover this key?

    With the key ARN known this is exact. Without it (a policy file), an Allow counts when it
    could cover a key of the owner's account, a Deny only when it surely covers every one of
    them — the choice that never under-reports exposure.
    """
    return _resources_apply(s.resources, s.not_resource, key_account, key_arn, for_allow)


@lru_cache(maxsize=8192)
def _resources_apply(
    resources: tuple[str, ...],
    not_resource: bool,
    key_account: str | None,
    key_arn: str | None,
    for_allow: bool,
) -> bool:
    states = [_resource_state(p, key_account, key_arn) for p in resources]
    if not_resource:
        # applies when the key is not among the listed resources
        if for_allow:
            return not any(st == "all" for st in states)
        return all(st == "none" for st in states)
    if for_allow:
        return any(st in ("all", "some") for st in states)
    return any(st == "all" for st in states)


@lru_cache(maxsize=8192)
def _resource_state(pattern: str, key_account: str | None, key_arn: str | None) -> str:
    """`all` (covers this key for sure), `some` (might), `none` (cannot)."""
    if pattern == "*":
        return "all"
    resolved = resolve(tokens(pattern, True), {})
    if resolved is None:
        return "some"  # a policy variable in the ARN: it may name this key
    rx = resource_regex(resolved)
    if key_arn is not None:
        return "all" if rx.fullmatch(key_arn) else "none"
    account = key_account or "000000000000"
    # a key of the owner's account, in any partition and region: the pattern covers every
    # one when it matches these probes, and may cover some when it matches any key ARN of
    # the account at all (the region and key id are unknown)
    probes = (
        f"arn:aws:kms:zz-probe-1:{account}:key/kmsguard-probe-0000",
        f"arn:aws-cn:kms:yy-probe-2:{account}:key/mrk-kmsguard-probe-1111",
    )
    if all(rx.fullmatch(p) for p in probes):
        return "all"
    return "some" if any(rx.fullmatch(c) for c in _key_arn_candidates(pattern, account)) else "none"


def _key_arn_candidates(pattern: str, account: str) -> list[str]:
    """Key ARNs of the account that a Resource pattern naming particular ones may cover:
    the pattern's own partition, region and key id with their wildcards filled in (`eu-*`
    stands for `eu-x`), and generic ones. A wildcard in the key id may also stand for the
    `key/` prefix (`*-abc` covers `key/x-abc`)."""
    parts = pattern.split(":", 5)

    def filled(text: str, star: str) -> str:
        return text.replace("*", star).replace("?", "x")

    def part(i: int, default: str) -> str:
        if len(parts) <= i or "$" in parts[i]:
            return default
        return filled(parts[i], "x")

    key = parts[5] if len(parts) == 6 and "$" not in parts[5] else "key/kmsguard-probe"
    keys = (filled(key, "x"), filled(key, "key/x"), "key/kmsguard-probe")
    return [
        f"arn:{p}:kms:{r}:{account}:{k}"
        for p in dict.fromkeys((part(1, "aws"), "aws", "aws-cn", "aws-us-gov"))
        for r in dict.fromkeys((part(3, "us-east-1"), "us-east-1"))
        for k in dict.fromkeys(keys)
        if k.startswith("key/")
    ]


# --- conditions -------------------------------------------------------------------------


def condition_holds(
    c: Condition, ctx: Mapping[str, Sequence[str]], *, attacker_favours: bool = True
) -> bool:
    """One (operator, key) block. An unknown operator is decided in the attacker's favour."""
    if c.comparator is Comparator.UNKNOWN:
        return attacker_favours
    vals = ctx.get(c.key) or ()
    if c.comparator is Comparator.NULL:
        present = bool(vals)
        return any((v.strip().lower() == "true") != present for v in c.values)
    if not vals:
        if c.if_exists:
            return True
        if c.qualifier is Qualifier.FOR_ALL_VALUES:
            return True
        if c.qualifier is Qualifier.FOR_ANY_VALUE:
            return False
        return c.negated
    per_value = [
        any(value_matches(c.comparator, v, const, ctx) for const in c.values) for v in vals
    ]
    if c.negated:
        per_value = [not m for m in per_value]
    if c.qualifier is Qualifier.FOR_ALL_VALUES:
        return all(per_value)
    if c.qualifier is Qualifier.FOR_ANY_VALUE:
        return any(per_value)
    if c.key in MULTIVALUED or len(vals) > 1:
        return all(per_value) if c.negated else any(per_value)
    return per_value[0]


_STRINGY = {Comparator.EQ, Comparator.EQ_CI, Comparator.LIKE, Comparator.ARN}


def value_matches(
    comp: Comparator, value: str, const: str, ctx: Mapping[str, Sequence[str]]
) -> bool:
    """Does one request value match one policy value (positive sense)?"""
    if comp in _STRINGY:
        wild = comp in (Comparator.LIKE, Comparator.ARN)
        resolved = resolve(tokens(const, wild), ctx)
        if resolved is None:
            return False
        if comp is Comparator.EQ:
            return value == literal(resolved)
        if comp is Comparator.EQ_CI:
            return value.lower() == literal(resolved).lower()
        return glob_regex(resolved, arn=comp is Comparator.ARN).fullmatch(value) is not None
    if comp is Comparator.BOOL:
        return value.strip().lower() == const.strip().lower()
    if comp is Comparator.BINARY:
        return value == const
    if comp is Comparator.IP:
        return ip_in(value, const)
    if comp.value.startswith("num_"):
        a, b = parse_number(value), parse_number(const)
        return a is not None and b is not None and compare(comp.value[4:], a, b)
    if comp.value.startswith("date_"):
        a, b = parse_date(value), parse_date(const)
        return a is not None and b is not None and compare(comp.value[5:], a, b)
    return False


def compare(op: str, a: float, b: float) -> bool:
    match op:
        case "eq":
            return a == b
        case "lt":
            return a < b
        case "le":
            return a <= b
        case "gt":
            return a > b
        case "ge":
            return a >= b
    return False


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(s: str) -> float | None:
    """A policy number: decimal digits with an optional sign, fraction and exponent. Not
    Python's wider float syntax: `Infinity`, `nan`, `1_000` and `1e999` are no numbers a
    policy can hold (as in `document`, which rejects them as JSON numbers), so a numeric
    condition with one is false."""
    s = s.strip()
    if not _NUMBER.fullmatch(s):
        return None
    n = float(s)
    return n if math.isfinite(n) else None


def parse_date(s: str) -> float | None:
    s = s.strip()
    n = parse_number(s)
    if n is not None:
        return n
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def ip_in(value: str, cidr: str) -> bool:
    """Is the address in the range? An IPv4 address is also its IPv4-mapped IPv6 form
    (`10.1.2.3` is in `::ffff:10.0.0.0/104`), as the solver models addresses (smt.network128):
    one 128-bit space, so the two never disagree."""
    try:
        address = ipaddress.ip_address(value.strip())
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
    if address.version == 4 and network.version == 6:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    elif isinstance(address, ipaddress.IPv6Address) and network.version == 4:
        if address.ipv4_mapped is None:
            return False
        address = address.ipv4_mapped
    return address in network
