"""Independent verification of a replacement key policy: the engine's verdict, a replay of
every observed successful call against the new policy alone, lockout safety and validity.

The verifier knows nothing of how a plan was made: it takes the old policy, the new policy
text, the observed callers and the zone of trust, and judges from those alone. It shares no
code with the planner: it uses the engine's public API (`kmsguard.policy`: parse, evaluate,
analyze), the evidence types, and its own reading of both (an import-linter contract keeps
it so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from kmsguard.model import Assessment, PrincipalType, Severity, TrustZone, Verdict
from kmsguard.policy import (
    Effect,
    Policy,
    PolicyParseError,
    PrincipalEntry,
    Request,
    Statement,
    analyze_policy,
    evaluate,
    parse_policy,
)

from .evidence import ObservedCaller

#: AWS KMS rejects key policies larger than 32 KB.
MAX_POLICY_BYTES = 32 * 1024

_SERVICE = PrincipalType.SERVICE.condition_value
_PARTITION = r"(aws|aws-cn|aws-us-gov)"
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT = re.compile(rf"^arn:{_PARTITION}:iam::\d{{12}}:root$")
_IDENTITY_ARN = re.compile(rf"^arn:{_PARTITION}:(iam|sts)::(\d{{12}}):.+$")
_SESSION = re.compile(rf"^arn:{_PARTITION}:sts::(\d{{12}}):assumed-role/([^/]+)/.+$")


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


# --------------------------------------------------------------------------- reading


def _allows(policy: Policy, request: Request, key_account: str) -> bool:
    return evaluate(policy, request, key_account=key_account).allowed


def _is_account(entry: PrincipalEntry) -> bool:
    """An account principal (`123456789012` or `arn:aws:iam::123456789012:root`): it
    delegates to the account's IAM policies."""
    return entry.kind == "AWS" and bool(
        _ACCOUNT_ID.match(entry.value) or _ROOT.match(entry.value)
    )


def _by_key_policy_alone(policy: Policy) -> Policy:
    """The policy with account principals removed from every Allow statement: what it
    grants by itself, without IAM delegation (no statement left allows nothing)."""
    kept: list[Statement] = []
    for stmt in policy.statements:
        if stmt.effect is not Effect.ALLOW or stmt.not_principal:
            kept.append(stmt)
            continue
        named = tuple(p for p in stmt.principals if not _is_account(p))
        if named:
            kept.append(replace(stmt, principals=named))
    return replace(policy, statements=tuple(kept))


def _requests(caller: ObservedCaller, action: str) -> Iterator[Request]:
    """The requests one observed (caller, action) stands for: each distinct request shape
    the evidence recorded for that action, else every combination of the services it came
    through (or a direct call) and the VPC endpoints it came from (or none)."""
    service = caller.principal_type == _SERVICE
    recorded = [(r.via_service, r.vpc_endpoint, r.context) for r in caller.requests
                if r.action == action]
    combos = recorded or [
        (via, vpce, ())
        for via in (caller.via_services or (None,))
        for vpce in (caller.vpc_endpoints or (None,))
    ]
    for via, vpce, extra in combos:
        context = {key: list(values) for key, values in caller.context}
        if service:
            context.setdefault("aws:SourceAccount", [caller.account])
        context.update((key, list(values)) for key, values in extra)
        if via is not None:
            context["kms:ViaService"] = [via]
        if vpce is not None:
            context["aws:SourceVpce"] = [vpce]
        yield Request(
            principal=caller.principal,
            account=caller.account,
            action=action,
            principal_type=caller.principal_type,
            context=context,
            org_id=caller.org_id,
            service=caller.principal if service else None,
        )


def _trusted(caller: ObservedCaller, zone: TrustZone, keep_external: frozenset[str]) -> bool:
    if caller.account in keep_external:
        return True
    return zone.contains_account(caller.account) or zone.contains_org(caller.org_id)


def _principal_account(value: str) -> str | None:
    if _ACCOUNT_ID.match(value):
        return value
    m = _IDENTITY_ARN.match(value)
    return m.group(3) if m else None


def _as_named(value: str, account: str) -> str:
    """The principal a key policy names: a bare account id as its root ARN, an STS session
    as its role."""
    if _ACCOUNT_ID.match(value):
        return f"arn:aws:iam::{account}:root"
    m = _SESSION.match(value)
    return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}" if m else value


def _principal_type(principal: str) -> str:
    if _ROOT.match(principal):
        return PrincipalType.ROOT.condition_value
    kind = PrincipalType.IAM_USER if ":user/" in principal else PrincipalType.ROLE
    return kind.condition_value


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
    old = parse_policy(old_policy)
    callers = tuple(callers)
    size = len(new_policy_text.encode("utf-8"))
    checks: list[Check] = []
    try:
        new = parse_policy(new_policy_text)
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


def _principal_check(policy: Policy) -> Check:
    bad = sorted(
        {
            p.value
            for stmt in policy.statements
            for p in stmt.principals
            if p.kind != "*" and p.value != "*" and ("*" in p.value or "?" in p.value)
        }
    )
    if bad:
        return Check("principals", False, "wildcard principal values: " + ", ".join(bad))
    return Check("principals", True, "no wildcard principal ARNs")


def _verdict_check(
    policy: Policy,
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
        again = analyze_policy(policy, widened)
        if again.verdict is Verdict.PRIVATE:
            kept = ", ".join(sorted(keep_external))
            return Check("verdict", True, f"cross-account only to kept account(s) {kept}")
    severity = assessment.severity if assessment.severity is not Severity.NONE else ""
    return Check("verdict", False, f"still {assessment.verdict} {severity}".strip())


def _replay(
    old: Policy,
    new: Policy,
    callers: tuple[ObservedCaller, ...],
    zone: TrustZone,
    keep_external: frozenset[str],
    key_account: str,
) -> Iterable[ReplayedCall]:
    old_alone, new_alone = _by_key_policy_alone(old), _by_key_policy_alone(new)
    for caller in callers:
        trusted = _trusted(caller, zone, keep_external)
        root = _ROOT.match(caller.principal) is not None
        for action, count in caller.actions:
            outcomes: list[ReplayOutcome] = []
            iam_dependent = False
            for request in _requests(caller, action):
                if not _allows(old, request, key_account):
                    outcomes.append(ReplayOutcome.NOT_FROM_KEY_POLICY)
                    continue
                new_full = _allows(new, request, key_account)
                if root:
                    # the root user is named by the account principal itself
                    by_old_alone, by_new_alone = True, new_full
                else:
                    by_old_alone = _allows(old_alone, request, key_account)
                    by_new_alone = _allows(new_alone, request, key_account)
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
    old: Policy,
    new: Policy,
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
    for stmt in old.statements:
        if stmt.effect is not Effect.ALLOW or stmt.not_principal:
            continue
        for p in stmt.principals:
            if p.kind != "AWS" or "*" in p.value or "?" in p.value:
                continue
            if _principal_account(p.value) != key_account:
                continue  # KMS accepts PutKeyPolicy only from the key's own account
            candidates.setdefault(_as_named(p.value, key_account), key_account)
    for caller in callers:
        # observed managers of the key (not every user of a policy that allowed kms:*)
        if (
            caller.principal_type != _SERVICE
            and caller.account == key_account
            and any(action == "kms:PutKeyPolicy" for action, _ in caller.actions)
        ):
            candidates.setdefault(caller.principal, caller.account)
    old_alone, new_alone = _by_key_policy_alone(old), _by_key_policy_alone(new)
    for principal, account in sorted(candidates.items()):
        root = _ROOT.match(principal) is not None
        request = Request(
            principal=principal,
            account=account,
            action="kms:PutKeyPolicy",
            principal_type=_principal_type(principal),
            context={},
        )
        if not _allows(old, request, key_account):
            continue
        by_old_alone = root or _allows(old_alone, request, key_account)
        after = (
            _allows(new, request, key_account)
            if root or not by_old_alone
            else _allows(new_alone, request, key_account)
        )
        yield LockoutProbe(principal=principal, account=account, allowed_after=after)
