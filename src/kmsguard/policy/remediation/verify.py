"""Independent verification of a replacement key policy: the engine's verdict, a replay of
every observed successful call against the new policy alone, lockout safety and validity.

The verifier knows nothing of how a plan was made: it takes the old policy, the new policy
text, the observed callers and the zone of trust, and judges from those alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kmsguard.errors import PolicyParseError
from kmsguard.model import Assessment, Severity, TrustZone, Verdict
from kmsguard.policy.document import Policy, element, load_document, parse_policy
from kmsguard.policy.evaluator import Request, evaluate
from kmsguard.policy.exposure import analyze_policy
from kmsguard.policy.principals import read_aws_principal

from .evidence import (
    ACCOUNT_ID,
    ROOT_ARN,
    ObservedCaller,
    caller_trusted,
    normalize_principal,
    normalize_principal_type,
    replay_requests,
)

#: AWS KMS rejects key policies larger than 32 KB.
MAX_POLICY_BYTES = 32 * 1024


# --------------------------------------------------------------------------- documents


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


# --------------------------------------------------------------------------- results


class ReplayOutcome(StrEnum):
    KEPT = "kept"  # trusted caller, still allowed on the same footing
    BROKEN = "broken"  # trusted caller that the new policy would stop
    DROPPED = "dropped"  # outside caller, no longer allowed (on purpose)
    EXTERNAL_STILL_ALLOWED = "external-still-allowed"
    NOT_FROM_KEY_POLICY = "not-from-key-policy"  # the old policy did not allow it (a grant?)


@dataclass(frozen=True, slots=True)
class ReplayedCall:
    """One observed (caller, action), replayed against the old and the new policy."""

    principal: str
    account: str
    action: str
    calls: int
    trusted: bool
    outcome: ReplayOutcome
    #: the old policy allowed it only through an account principal (IAM policies decide)
    iam_dependent: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "account": self.account,
            "action": self.action,
            "calls": self.calls,
            "trusted": self.trusted,
            "outcome": str(self.outcome),
            "iam_dependent": self.iam_dependent,
        }


@dataclass(frozen=True, slots=True)
class LockoutProbe:
    """A principal that could call PutKeyPolicy under the old policy."""

    principal: str
    account: str
    allowed_after: bool

    def to_json(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "account": self.account,
            "allowed_after": self.allowed_after,
        }


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Verification:
    checks: tuple[Check, ...]
    verdict_after: Verdict
    assessment_after: Assessment | None
    replay: tuple[ReplayedCall, ...]
    lockout: tuple[LockoutProbe, ...]
    size_bytes: int

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def lockout_ok(self) -> bool:
        return all(c.ok for c in self.checks if c.name == "lockout")

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def calls(self, *outcomes: ReplayOutcome) -> int:
        return sum(r.calls for r in self.replay if r.outcome in outcomes)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
            "verdict_after": str(self.verdict_after),
            "assessment_after": self.assessment_after.to_json() if self.assessment_after else None,
            "lockout_ok": self.lockout_ok,
            "lockout": [p.to_json() for p in self.lockout],
            "size_bytes": self.size_bytes,
        }


# --------------------------------------------------------------------------- checks


def verify(
    old_policy: str | bytes | Mapping[str, Any],
    new_policy_text: str,
    callers: Iterable[ObservedCaller],
    zone: TrustZone,
    *,
    key_account: str,
    keep_external: frozenset[str] = frozenset(),
) -> Verification:
    """Judge `new_policy_text` as a replacement for `old_policy`; every check is reported."""
    old = policy_document(old_policy)
    callers = tuple(callers)
    size = len(new_policy_text.encode("utf-8"))
    checks: list[Check] = []
    try:
        new = policy_document(new_policy_text)
    except PolicyParseError as exc:
        checks.append(Check("well-formed", False, exc.message))
        return Verification(tuple(checks), Verdict.ERROR, None, (), (), size)
    checks.append(Check("well-formed", True, "the engine parses the new policy"))
    checks.append(
        Check(
            "size",
            size <= MAX_POLICY_BYTES,
            f"{size} bytes (limit {MAX_POLICY_BYTES})",
        )
    )
    checks.append(_principal_check(new))

    assessment = analyze_policy(new, zone)
    checks.append(_verdict_check(new, zone, keep_external, assessment))

    replay = tuple(_replay(old, new, callers, zone, keep_external, key_account))
    broken = [r for r in replay if r.outcome is ReplayOutcome.BROKEN]
    kept = sum(r.calls for r in replay if r.outcome is ReplayOutcome.KEPT)
    if broken:
        names = ", ".join(sorted({f"{r.principal} {r.action}" for r in broken}))
        checks.append(Check("replay", False, f"would stop trusted callers: {names}"))
    else:
        checks.append(Check("replay", True, f"all {kept} trusted calls still allowed"))

    probes = tuple(_lockout(old, new, callers, key_account))
    locked = [p.principal for p in probes if not p.allowed_after]
    if locked:
        checks.append(
            Check("lockout", False, "could no longer manage the key: " + ", ".join(locked))
        )
    elif probes:
        checks.append(
            Check("lockout", True, f"{len(probes)} key administrator(s) keep PutKeyPolicy")
        )
    else:
        checks.append(Check("lockout", True, "nobody could call PutKeyPolicy before"))
    return Verification(tuple(checks), assessment.verdict, assessment, replay, probes, size)


def _principal_check(doc: Mapping[str, Any]) -> Check:
    bad = sorted(
        {
            value
            for stmt in statements_of(doc)
            for name in ("Principal", "NotPrincipal")
            for kind, value in principal_values(stmt, name)
            if kind != "*" and value != "*" and ("*" in value or "?" in value)
        }
    )
    if bad:
        return Check("principals", False, "wildcard principal values: " + ", ".join(bad))
    return Check("principals", True, "no wildcard principal ARNs")


def _verdict_check(
    doc: Mapping[str, Any],
    zone: TrustZone,
    keep_external: frozenset[str],
    assessment: Assessment,
) -> Check:
    if assessment.errors:
        return Check("verdict", False, "the engine reports errors: " + "; ".join(assessment.errors))
    if assessment.verdict is Verdict.PRIVATE:
        return Check("verdict", True, "private")
    if assessment.verdict is Verdict.CROSS_ACCOUNT and keep_external:
        widened = TrustZone(
            account=zone.account,
            trusted_accounts=zone.trusted_accounts | keep_external,
            trusted_orgs=zone.trusted_orgs,
            trusted_org_paths=zone.trusted_org_paths,
        )
        again = analyze_policy(doc, widened)
        if again.verdict is Verdict.PRIVATE:
            kept = ", ".join(sorted(keep_external))
            return Check("verdict", True, f"cross-account only to kept account(s) {kept}")
    severity = assessment.severity if assessment.severity is not Severity.NONE else ""
    return Check("verdict", False, f"still {assessment.verdict} {severity}".strip())


def _replay(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    callers: tuple[ObservedCaller, ...],
    zone: TrustZone,
    keep_external: frozenset[str],
    key_account: str,
) -> Iterable[ReplayedCall]:
    old_p, new_p = parse_policy(old), parse_policy(new)
    old_alone = parsed(without_account_roots(old))
    new_alone = parsed(without_account_roots(new))
    for caller in callers:
        trusted = caller_trusted(caller, zone, keep_external)
        for action, count in caller.actions:
            outcomes: list[ReplayOutcome] = []
            iam_dependent = False
            for request in replay_requests(caller, action):
                if not allows(old_p, request, key_account):
                    outcomes.append(ReplayOutcome.NOT_FROM_KEY_POLICY)
                    continue
                new_full = allows(new_p, request, key_account)
                if caller.is_root:
                    # the root user is named by the account principal itself
                    by_old_alone, by_new_alone = True, new_full
                else:
                    by_old_alone = allows(old_alone, request, key_account)
                    by_new_alone = allows(new_alone, request, key_account)
                iam_dependent = iam_dependent or not by_old_alone
                still = by_new_alone if by_old_alone else new_full
                if trusted:
                    outcomes.append(ReplayOutcome.KEPT if still else ReplayOutcome.BROKEN)
                else:
                    outcomes.append(
                        ReplayOutcome.EXTERNAL_STILL_ALLOWED if new_full else ReplayOutcome.DROPPED
                    )
            yield ReplayedCall(
                principal=caller.principal,
                account=caller.account,
                action=action,
                calls=count,
                trusted=trusted,
                outcome=_worst(outcomes),
                iam_dependent=iam_dependent,
            )


_OUTCOME_ORDER = (
    ReplayOutcome.BROKEN,
    ReplayOutcome.EXTERNAL_STILL_ALLOWED,
    ReplayOutcome.DROPPED,
    ReplayOutcome.KEPT,
    ReplayOutcome.NOT_FROM_KEY_POLICY,
)


def _worst(outcomes: list[ReplayOutcome]) -> ReplayOutcome:
    for outcome in _OUTCOME_ORDER:
        if outcome in outcomes:
            return outcome
    return ReplayOutcome.NOT_FROM_KEY_POLICY


def _lockout(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    callers: tuple[ObservedCaller, ...],
    key_account: str,
) -> Iterable[LockoutProbe]:
    """Every principal that could call PutKeyPolicy before must still be able to.

    Candidates, all of the key's own account (KMS takes PutKeyPolicy from no other): every
    AWS principal named in an Allow statement, the account root, and observed callers of
    PutKeyPolicy. Those the old policy allowed PutKeyPolicy are probed against the new one,
    on the same footing (by the key policy itself, or through IAM delegation).
    """
    candidates: dict[str, str] = {f"arn:aws:iam::{key_account}:root": key_account}
    for stmt in statements_of(old):
        if not is_allow(stmt):
            continue
        for kind, value in principal_values(stmt):
            if kind.lower() != "aws" or "*" in value or "?" in value:
                continue
            account = account_of_principal(value)
            if account != key_account:
                continue  # KMS accepts PutKeyPolicy only from the key's own account
            arn = f"arn:aws:iam::{account}:root" if ACCOUNT_ID.match(value) else value
            candidates.setdefault(normalize_principal(arn), account)
    for caller in callers:
        # observed managers of the key (not every user of a policy that allowed kms:*)
        if (
            not caller.is_service
            and caller.account == key_account
            and "kms:PutKeyPolicy" in caller.action_names
        ):
            candidates.setdefault(caller.principal, caller.account)
    old_p, new_p = parse_policy(old), parse_policy(new)
    old_alone = parsed(without_account_roots(old))
    new_alone = parsed(without_account_roots(new))
    for principal, account in sorted(candidates.items()):
        root = ROOT_ARN.match(principal) is not None
        request = Request(
            principal=principal,
            account=account,
            action="kms:PutKeyPolicy",
            principal_type="Account" if root else normalize_principal_type(None, principal),
            context={},
        )
        if not allows(old_p, request, key_account):
            continue
        by_old_alone = root or allows(old_alone, request, key_account)
        after = (
            allows(new_p, request, key_account)
            if root or not by_old_alone
            else allows(new_alone, request, key_account)
        )
        yield LockoutProbe(principal=principal, account=account, allowed_after=after)
