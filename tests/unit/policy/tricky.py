"""A differential check of the engine: a seeded generator of tricky key policies, and a
brute-force search for an allowed outside request over representative requests.

The shapes are those that broke the engine before (issue 11): Deny statements with negated
operators on absent keys, `IfExists`, `ForAllValues` on absent keys, wildcard patterns in
values and resources, `NotPrincipal` chains, keys only services send, policy variables,
wildcard and session principal ARNs. Every policy is judged with shortcuts on and off; the
brute force then tries every combination of representative values (the policy's own
literals with wildcards filled in, fresh values, absent keys) through the concrete
evaluator. A disagreement is:
- the two ways of judging differ, or either ends `error` (or raises);
- the engine says `private` but the search finds an allowed outsider (a wrong proof);
- the engine says `cross-account` but the search finds an allowed *unknown* account;
- the engine's witness is not allowed, not outside, or not a request AWS can make;
- the engine's concrete evaluator and the independent reference evaluator (reference.py,
  written from the IAM docs without importing the engine) judge a candidate request or a
  witness differently: a bug in the engine's evaluator or parser would otherwise be shared
  by everything the check compares.
(An exposure the search cannot reproduce is not a disagreement: the engine's witness,
re-checked, proves it.)

Used by tests/unit/policy/test_differential.py (a small sample) and
bench/check/differential.py (thousands).
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
from dataclasses import dataclass
from typing import Any

from kmsguard.model import Assessment, TrustZone, Verdict
from kmsguard.policy import Request, analyze_policy, evaluate, parse_policy
from kmsguard.policy.possible import impossible

from . import reference

OWN = "123456789012"
TRUSTED = "555566667777"
PARTNER = "210987654321"
OTHER = "777788889999"
FRESH = "999900001111"
OWN_ORG = "o-exampleorgid"
OTHER_ORG = "o-otherorgabcd"
FRESH_ORG = "o-bruteforce01"
ZONE = TrustZone(
    account=OWN, trusted_orgs=frozenset({OWN_ORG}), trusted_accounts=frozenset({TRUSTED})
)

_PRINCIPALS: list[Any] = [
    "*",
    {"AWS": "*"},
    {"AWS": f"arn:aws:iam::{OWN}:root"},
    {"AWS": PARTNER},
    {"AWS": f"arn:aws:iam::{PARTNER}:role/app"},
    {"AWS": f"arn:aws:iam::{OTHER}:user/alice"},
    {"AWS": f"arn:aws:sts::{PARTNER}:assumed-role/app/s1"},
    {"AWS": f"arn:aws:iam::{OTHER}:role/app-*"},
    {"AWS": f"arn:aws:iam::{TRUSTED}:role/ops"},
    {"Service": "s3.amazonaws.com"},
]
_NOT_PRINCIPALS: list[Any] = [
    {"AWS": f"arn:aws:iam::{OWN}:root"},
    {"AWS": [f"arn:aws:iam::{OWN}:root", f"arn:aws:iam::{PARTNER}:role/app"]},
    {"AWS": [f"arn:aws:iam::{OWN}:root", f"arn:aws:sts::{PARTNER}:assumed-role/app/s1"]},
    {"AWS": f"arn:aws:iam::{OTHER}:role/app-*"},
    {"AWS": PARTNER},
]
_ACTIONS = ["kms:*", "kms:Decrypt", "kms:Encrypt", "kms:Decapsulate", "kms:Gen*", "*"]
_RESOURCES = [
    "*",
    "*",
    "*",
    "arn:aws:kms:*",
    "arn:*",
    f"arn:aws:kms:*:{PARTNER}:key/*",
    f"arn:aws:kms:eu-*:{OWN}:key/*",
    f"arn:aws:kms:*:{OWN}:alias/*",
]
#: (operator, key, candidate values)
_CONDITIONS: list[tuple[str, str, list[str]]] = [
    ("StringEquals", "kms:CallerAccount", [OWN, PARTNER, TRUSTED]),
    ("StringNotEquals", "aws:PrincipalAccount", [OWN, TRUSTED]),
    ("StringLike", "kms:CallerAccount", ["2109876543??", "*", "12345678*"]),
    ("NumericEquals", "kms:CallerAccount", [PARTNER, OWN]),
    ("NumericLessThan", "kms:CallerAccount", ["300000000000", "Infinity"]),
    ("StringEquals", "aws:PrincipalOrgID", [OWN_ORG, OTHER_ORG]),
    ("StringNotEquals", "aws:PrincipalOrgID", [OWN_ORG]),
    ("StringNotEqualsIfExists", "aws:PrincipalOrgID", [OWN_ORG]),
    ("StringLike", "aws:PrincipalOrgID", ["o-*", OTHER_ORG]),
    (
        "ForAnyValue:StringLike",
        "aws:PrincipalOrgPaths",
        [f"{OWN_ORG}/*", "o-*/*", f"{OTHER_ORG}/r-1/*"],
    ),
    ("ForAllValues:StringLike", "aws:PrincipalOrgPaths", [f"{OWN_ORG}/*"]),
    (
        "ArnLike",
        "aws:PrincipalArn",
        [f"arn:aws:iam::{PARTNER}:role/*", "arn:aws:iam::*:role/app-*"],
    ),
    (
        "ArnNotLike",
        "aws:PrincipalArn",
        [f"arn:aws:iam::{OWN}:*", f"arn:aws:iam::{PARTNER}:role/app"],
    ),
    ("ArnLike", "aws:PrincipalArn", ["arn:aws:iam::${aws:ResourceAccount}:*"]),
    ("StringLike", "aws:PrincipalArn", ["arn:aws:iam::*:role/app${?}", "arn:aws:iam::*:${*}"]),
    ("StringLike", "aws:PrincipalArn", ["arn:aws:iam::${aws:PrincipalAccount}:role/*"]),
    ("StringEquals", "aws:username", ["alice", "bob"]),
    ("StringLike", "aws:userid", ["AROA*", "AIDAEXAMPLE*"]),
    ("StringEquals", "aws:SourceAccount", [OWN, PARTNER]),
    ("StringNotEquals", "aws:SourceAccount", [OWN]),
    ("ArnLike", "aws:SourceArn", ["arn:aws:s3:::*"]),
    ("StringEquals", "aws:PrincipalServiceName", ["s3.amazonaws.com"]),
    ("StringNotEqualsIfExists", "aws:PrincipalServiceName", ["s3.amazonaws.com"]),
    ("StringEquals", "kms:ViaService", ["s3.us-east-1.amazonaws.com"]),
    ("StringNotEquals", "kms:ViaService", ["s3.us-east-1.amazonaws.com"]),
    ("ForAllValues:StringEquals", "kms:EncryptionContextKeys", ["tenant"]),
    ("StringEquals", "kms:EncryptionContext:tenant", ["a", "b"]),
    ("StringEqualsIgnoreCase", "aws:PrincipalTag/team", ["pay"]),
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "203.0.113.0/24", "::ffff:10.0.0.0/104"]),
    ("NotIpAddress", "aws:SourceIp", ["198.51.100.0/24"]),
    ("StringEquals", "aws:SourceVpce", ["vpce-1"]),
    ("StringNotEqualsIfExists", "aws:SourceVpce", ["vpce-1"]),
    ("Null", "aws:PrincipalOrgID", ["true", "false"]),
    ("Null", "aws:SourceAccount", ["true", "false"]),
    ("Bool", "aws:PrincipalIsAWSService", ["true", "false"]),
    ("StringEquals", "aws:ResourceAccount", [OWN, PARTNER]),
]


def tricky_policy(rnd: random.Random) -> dict[str, Any]:
    statements = []
    for _ in range(rnd.randint(1, 3)):
        allow = rnd.random() < 0.6
        s: dict[str, Any] = {"Effect": "Allow" if allow else "Deny"}
        if rnd.random() < 0.2:
            s["NotPrincipal"] = rnd.choice(_NOT_PRINCIPALS)
        else:
            s["Principal"] = rnd.choice(_PRINCIPALS)
        s["Action"] = rnd.sample(_ACTIONS, rnd.randint(1, 2))
        if rnd.random() < 0.08:
            s["NotAction"] = s.pop("Action")
        s["Resource"] = rnd.choice(_RESOURCES)
        cond: dict[str, dict[str, list[str]]] = {}
        for _ in range(rnd.choices([0, 1, 2], [3, 5, 2])[0]):
            op, key, values = rnd.choice(_CONDITIONS)
            cond.setdefault(op, {})[key] = rnd.sample(values, rnd.randint(1, len(values)))
        if cond:
            s["Condition"] = cond
        statements.append(s)
    return {"Version": "2012-10-17", "Statement": statements}


# --- brute force ----------------------------------------------------------------------


def _fill(value: str) -> list[str]:
    """Concrete strings a pattern value stands for: wildcards filled two ways."""
    if "${" in value:
        return []
    return list(dict.fromkeys([re.sub(r"[*?]", "x", value), value.replace("*", "")]))


def representative_requests(policy: dict[str, Any], action: str) -> list[Request]:
    """Outside IAM callers built from the policy's own literals and fresh values."""
    text_values: dict[str, list[str]] = {}
    for s in policy["Statement"]:
        for block in s.get("Condition", {}).values():
            for key, vals in block.items():
                filled = [f for v in vals for f in _fill(v)]
                text_values.setdefault(key.lower(), []).extend(filled)
    accounts = [PARTNER, OTHER, FRESH]
    identities: list[tuple[str, str, str, str | None]] = []  # principal, type, account, session
    for a in accounts:
        identities += [
            (f"arn:aws:iam::{a}:root", "Account", a, None),
            (f"arn:aws:iam::{a}:role/app", "AssumedRole", a, None),
            (f"arn:aws:iam::{a}:role/app", "AssumedRole", a, "s1"),
            (f"arn:aws:iam::{a}:role/app-x", "AssumedRole", a, None),
            (f"arn:aws:iam::{a}:user/alice", "User", a, None),
            (f"arn:aws:iam::{a}:user/bob", "User", a, None),
        ]
    orgs: list[str | None] = [None, OTHER_ORG, FRESH_ORG]
    networks: list[dict[str, list[str]]] = [
        {"aws:sourceip": ["198.51.100.7"]},
        {"aws:sourceip": ["10.1.2.3"]},
        {"aws:sourceip": ["203.0.113.9"]},
        {"aws:sourcevpce": ["vpce-1"], "aws:sourcevpc": ["vpc-1"]},
    ]
    free_keys = sorted(
        k
        for k in text_values
        if k.startswith(("kms:encryptioncontext", "aws:principaltag/", "kms:viaservice"))
    )
    free_choices = [[None, *dict.fromkeys(text_values[k]), "other"] for k in free_keys]
    # unique ids are AWS's choice: fresh ones, and (as named principals) the policy's own
    named_ids = text_values.get("aws:userid", [])
    out: list[Request] = []
    for (principal, ptype, account, session), org in itertools.product(identities, orgs):
        fresh_id = {
            "Account": account,
            "User": "AIDABRUTEFORCEUSER01",
            "AssumedRole": f"AROABRUTEFORCEROLE01:{session or 'bf'}",
        }[ptype]
        fitting = [
            u if ptype == "User" or ":" in u else f"{u}:bf"
            for u in named_ids
            if (ptype, u[:4]) in (("User", "AIDA"), ("AssumedRole", "AROA"))
        ]
        for userid in (fresh_id, *fitting):
            out += [
                dataclasses.replace(r, action=action)
                for r in _with_context(
                    principal,
                    ptype,
                    account,
                    session,
                    org,
                    userid,
                    networks,
                    free_keys,
                    free_choices,
                )
            ]
    return out


def _with_context(
    principal: str,
    ptype: str,
    account: str,
    session: str | None,
    org: str | None,
    userid: str,
    networks: list[dict[str, list[str]]],
    free_keys: list[str],
    free_choices: list[list[str | None]],
) -> list[Request]:
    base: dict[str, list[str]] = {"aws:userid": [userid]}
    if org:
        base["aws:principalorgpaths"] = [f"{org}/r-ab12/ou-ab12-11111111/"]
    out: list[Request] = []
    for network in networks:
        for combo in itertools.product(*free_choices):
            ctx = dict(base)
            ctx.update(network)
            for k, v in zip(free_keys, combo, strict=True):
                if v is not None:
                    ctx[k] = [v]
            ec_keys = [k.split(":", 2)[2] for k in ctx if k.startswith("kms:encryptioncontext:")]
            if ec_keys:
                ctx["kms:encryptioncontextkeys"] = ec_keys
            out.append(
                Request(
                    principal=principal,
                    account=account,
                    action="",
                    principal_type=ptype,
                    org_id=org,
                    context=ctx,
                    session=session,
                )
            )
    return out


def _unknown(r: Request, mentioned: str) -> bool:
    """An identity the policy does not name: its account, organization and unique id."""
    if r.account in mentioned or (r.org_id is not None and r.org_id in mentioned):
        return False
    userid = " ".join(r.context.get("aws:userid", ()))
    return r.principal_type == "Account" or "BRUTEFORCE" in userid


@dataclass(frozen=True)
class Outcome:
    policy: dict[str, Any]
    verdict: Verdict
    problems: tuple[str, ...]


def check(policy: dict[str, Any], zone: TrustZone = ZONE) -> Outcome:
    """Judge the policy both ways and against the brute force; the problems found."""
    problems: list[str] = []
    try:
        fast = analyze_policy(policy, zone)
        slow = analyze_policy(policy, zone, shortcuts=False)
    except Exception as exc:  # a crash is a disagreement too, not the end of the run
        return Outcome(policy, Verdict.ERROR, (f"crash: {type(exc).__name__}: {exc}",))
    for name, a in (("shortcuts", fast), ("solver", slow)):
        if a.verdict is Verdict.ERROR:
            problems.append(f"{name}: error {a.errors}")
        problems += _witness_problems(name, policy, a, zone)
    if fast.verdict != slow.verdict or fast.exposed_actions != slow.exposed_actions:
        problems.append(f"shortcuts {fast.verdict} != solver {slow.verdict}")
    parsed = parse_policy(policy)
    mentioned = str(policy)
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:Decapsulate"):
        outsider = unknown = None
        differ = 0
        for r in representative_requests(policy, action):
            allowed = evaluate(parsed, r, key_account=zone.account).allowed
            if allowed != reference_allows(policy, r, zone):
                differ += 1
                if differ == 1:  # one example per action is enough to read
                    problems.append(f"evaluator {allowed} != reference: {r}")
            if zone.contains_account(r.account or "") or zone.contains_org(r.org_id):
                continue
            if allowed:
                outsider = outsider or r
                if _unknown(r, mentioned):
                    unknown = unknown or r
        if outsider is not None and fast.verdict is Verdict.PRIVATE:
            problems.append(f"private, but allowed: {outsider}")
        if unknown is not None and fast.verdict is Verdict.CROSS_ACCOUNT:
            problems.append(f"cross-account, but an unknown account is allowed: {unknown}")
    return Outcome(policy, fast.verdict, tuple(problems))


def as_reference_request(r: Request) -> dict[str, Any]:
    """The engine's `Request` as the reference evaluator's plain dict."""
    return {
        "principal": r.service or r.principal,
        "account": r.account,
        "type": "Service" if r.service else r.principal_type,
        "session": r.session,
        "org_id": r.org_id,
        "action": r.action,
        "context": {k: [v] if isinstance(v, str) else list(v) for k, v in r.context.items()},
    }


def reference_allows(policy: dict[str, Any], r: Request, zone: TrustZone = ZONE) -> bool:
    return reference.is_allowed(policy, as_reference_request(r), key_account=zone.account)


def _witness_problems(
    name: str, policy: dict[str, Any], a: Assessment, zone: TrustZone
) -> list[str]:
    parsed = parse_policy(policy)
    out = []
    for e in a.exposures:
        w = e.witness
        if w is None:
            continue
        r = Request(
            principal=w.principal,
            account=w.account,
            action=w.action,
            principal_type=w.principal_type,
            org_id=w.org_id,
            context=w.context_dict(),
        )
        if zone.contains_account(w.account) or zone.contains_org(w.org_id):
            out.append(f"{name}: witness inside the zone {w}")
        if not evaluate(parsed, r, key_account=zone.account).allowed:
            out.append(f"{name}: witness not allowed {w}")
        if not reference_allows(policy, r, zone):
            out.append(f"{name}: witness not allowed by the reference evaluator {w}")
        reason = impossible(r)
        if reason:
            out.append(f"{name}: witness impossible ({reason}) {w}")
    return out
