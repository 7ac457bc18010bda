"""Sound syntactic answers for the common shapes, so most policies never reach the solver.

Each function only ever answers when the answer follows from the evaluation rules alone:
- a statement is *pinned* when one of its ANDed conditions is false for every caller outside
  the zone of trust (so it can never admit one);
- a statement *admits unknown accounts* only through a wildcard principal or `NotPrincipal`;
- a statement *requires a VPC endpoint* when a positive condition needs a key that is absent
  on the open internet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kmsguard.model import TrustZone

from .document import Comparator, Condition, Qualifier, Statement
from .keys import CALLER_CANNOT_SET, IDENTITY_KEYS, NETWORK_KEYS, SERVICE_ONLY_KEYS, VPC_KEYS
from .principals import AwsPrincipal, read_aws_principal

_ABSENT_FOR_IAM_CALLERS = frozenset(
    {"aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths"}
)
_EXACT = frozenset({Comparator.EQ, Comparator.EQ_CI, Comparator.LIKE, Comparator.ARN})
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_ARN_HEAD = re.compile(r"^arn:aws[^:*?]*:(iam|sts)::(\d{12}):")


def positive(c: Condition) -> bool:
    """False whenever the key is absent, and true only when some value matches."""
    return (
        not c.negated
        and not c.if_exists
        and c.qualifier in (Qualifier.NONE, Qualifier.FOR_ANY_VALUE)
        and c.comparator not in (Comparator.NULL, Comparator.UNKNOWN)
    )


def _literal(value: str, comp: Comparator) -> bool:
    if "${" in value:
        return False
    return comp not in (Comparator.LIKE, Comparator.ARN) or not any(ch in value for ch in "*?")


def pins_caller(c: Condition, zone: TrustZone) -> bool:
    if not positive(c):
        return False
    if c.key in _ABSENT_FOR_IAM_CALLERS:
        return True
    if c.comparator not in _EXACT:
        return (
            c.key == "aws:principalisawsservice"
            and all(v.strip().lower() == "true" for v in c.values)
            and c.comparator is Comparator.BOOL
        )
    vals = c.values
    if c.key in ("kms:calleraccount", "aws:principalaccount"):
        return all(_literal(v, c.comparator) and v in zone.accounts for v in vals)
    if c.key == "aws:principalorgid":
        return all(_literal(v, c.comparator) and v.lower() in zone.trusted_orgs for v in vals)
    if c.key == "aws:principalorgpaths":
        return all(_under_trusted_path(v, zone) for v in vals)
    if c.key == "aws:principalarn":
        return all(_arn_in_zone(v, zone) for v in vals)
    return False


def _under_trusted_path(value: str, zone: TrustZone) -> bool:
    if "${" in value:
        return False
    head = re.split(r"[*?]", value, maxsplit=1)[0].lower()
    return any(head.startswith(o + "/") for o in zone.trusted_orgs) or any(
        head.startswith(p) for p in zone.trusted_org_paths
    )


def _arn_in_zone(value: str, zone: TrustZone) -> bool:
    if "${" in value:
        return False
    m = _ARN_HEAD.match(value)
    return m is not None and m.group(2) in zone.accounts


def statement_pinned(s: Statement, zone: TrustZone) -> bool:
    return any(pins_caller(c, zone) for c in s.conditions)


def admits_unknown_accounts(s: Statement) -> bool:
    if s.not_principal:
        return True
    return any(
        e.kind == "*" or (e.kind == "AWS" and read_aws_principal(e.value).kind == "any")
        for e in s.principals
    )


def explicit_outsiders(s: Statement, zone: TrustZone) -> list[AwsPrincipal]:
    out = []
    for e in s.principals:
        if e.kind != "AWS":
            continue
        p = read_aws_principal(e.value)
        if p.kind in ("account", "arn") and p.account not in zone.accounts:
            out.append(p)
    return out


@dataclass(frozen=True, slots=True)
class Candidate:
    """A named outside identity a statement may admit."""

    name: str  # what the finding lists: an account id or an organization id
    account: str
    principal: str | None = None
    org_id: str | None = None
    org_path: str | None = None


_FRESH = "999988887777"


def named_candidates(s: Statement, zone: TrustZone) -> list[Candidate] | None:
    """The outside identities a statement can admit, when it can only admit named ones
    (explicit principals, or a positive literal identity condition); None otherwise."""
    if not admits_unknown_accounts(s):
        return [
            Candidate(
                name=p.account or "",
                account=p.account or "",
                principal=p.arn if p.session_of is None else None,
            )
            for p in explicit_outsiders(s, zone)
        ]
    for c in s.conditions:
        if not positive(c) or c.comparator not in _EXACT:
            continue
        if any("${" in v for v in c.values):
            continue
        out: list[Candidate] = []
        if c.key in ("kms:calleraccount", "aws:principalaccount") and all(
            _literal(v, c.comparator) for v in c.values
        ):
            # a value that is no account id ("*" is literal here) admits nobody
            out = [
                Candidate(v, v) for v in c.values if _ACCOUNT_ID.match(v) and v not in zone.accounts
            ]
        elif c.key == "aws:principalarn" and all(_ARN_HEAD.match(v) for v in c.values):
            for v in c.values:
                m = _ARN_HEAD.match(v)
                assert m is not None
                if m.group(2) not in zone.accounts:
                    literal = _literal(v, c.comparator) and m.group(1) == "iam"
                    out.append(Candidate(m.group(2), m.group(2), v if literal else None))
        elif c.key == "aws:principalorgid" and all(_literal(v, c.comparator) for v in c.values):
            out = [
                Candidate(v.lower(), _FRESH, org_id=v.lower())
                for v in c.values
                if _ORG_ID.match(v.lower()) and v.lower() not in zone.trusted_orgs
            ]
        elif c.key == "aws:principalorgpaths" and all("/" in v for v in c.values):
            for v in c.values:
                head = v.split("/", 1)[0].lower()
                if any(ch in head for ch in "*?"):
                    return None  # a wildcard organization names nobody: not this shortcut
                if _under_trusted_path(v, zone):
                    continue
                path = re.sub(r"[*?]", "x", v.lower())
                out.append(Candidate(head, _FRESH, org_id=head, org_path=path))
        else:
            continue
        return out
    return None


def literal_context(s: Statement) -> dict[str, list[str]]:
    """Values for the statement's positive non-identity conditions, as a caller would send
    them (wildcards filled in): a probe that satisfies the obvious."""
    out: dict[str, list[str]] = {}
    for c in s.conditions:
        if not positive(c) or c.key in IDENTITY_KEYS or c.key in NETWORK_KEYS:
            continue
        if c.key in SERVICE_ONLY_KEYS or c.key in CALLER_CANNOT_SET:
            continue  # a direct IAM caller cannot send these: the probe must not either
        if c.comparator not in (*_EXACT, Comparator.BOOL) or "${" in c.values[0]:
            continue
        out[c.key] = [re.sub(r"[*?]", "x", c.values[0])]
    return out


def vpc_conditions(s: Statement) -> list[Condition]:
    return [c for c in s.conditions if c.key in VPC_KEYS and positive(c)]
