"""What a live scan found: one frozen result per key, the accounts and regions that could
not be read, and the summary (counts by verdict, owner-tag share) every report prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from kmsguard import rules
from kmsguard.model import (
    Assessment,
    ExposureKind,
    Finding,
    Origin,
    Severity,
    Verdict,
    max_severity,
)


class KeyStatus(StrEnum):
    JUDGED = "judged"  # everything was read and judged
    SKIPPED = "skipped"  # AWS managed: listed, not judged
    ERROR = "error"  # something could not be read: the scan is incomplete


@dataclass(frozen=True, slots=True)
class ReadError:
    """One API call that failed after retries (or a document that could not be parsed)."""

    operation: str  # e.g. GetKeyPolicy, or "policy" for a parse error
    code: str  # e.g. AccessDeniedException, ThrottlingException
    message: str

    def describe(self) -> str:
        return f"{self.operation}: {self.code}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"operation": self.operation, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class GrantFinding:
    """A grant the engine judged to reach outside the zone of trust."""

    grant_id: str
    name: str | None
    grantee_principal: str
    retiring_principal: str | None
    operations: tuple[str, ...]
    assessment: Assessment

    def to_json(self) -> dict[str, object]:
        return {
            "grant_id": self.grant_id,
            "name": self.name,
            "grantee_principal": self.grantee_principal,
            "retiring_principal": self.retiring_principal,
            "operations": list(self.operations),
            "verdict": str(self.assessment.verdict),
            "severity": str(self.assessment.severity),
            "exposures": [e.to_json() for e in self.assessment.exposures],
        }


@dataclass(frozen=True, slots=True)
class KeyResult:
    """Everything kmsguard learned about one KMS key."""

    arn: str
    key_id: str
    account: str
    region: str
    state: str | None = None  # Enabled, Disabled, PendingDeletion, ...; None if unread
    manager: str | None = None  # CUSTOMER or AWS
    aliases: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    assessment: Assessment | None = None  # the key policy's; None if not judged
    grant_findings: tuple[GrantFinding, ...] = ()
    grants_total: int = 0
    owner_tag: bool | None = None  # None when the tags could not be read
    errors: tuple[ReadError, ...] = ()
    skipped: str | None = None  # why the key was not judged (AWS managed)
    multi_region: bool = False

    @property
    def status(self) -> KeyStatus:
        if self.skipped is not None:
            return KeyStatus.SKIPPED
        if self.errors or (self.assessment is not None and self.assessment.undecided):
            return KeyStatus.ERROR
        return KeyStatus.JUDGED

    @property
    def verdict(self) -> Verdict:
        """The worst of the policy's and the grants' verdicts; `error` if the policy was
        not judged."""
        if self.assessment is None:
            return Verdict.ERROR
        verdicts = [self.assessment.verdict, *(g.assessment.verdict for g in self.grant_findings)]
        return max(verdicts, key=lambda v: v.rank)

    @property
    def severity(self) -> Severity:
        """The highest severity of the policy and grant exposures (not of read errors)."""
        found = [g.assessment.severity for g in self.grant_findings]
        if self.assessment is not None:
            found.append(self.assessment.severity)
        return max_severity(found)

    def origin(self) -> Origin:
        return Origin(
            source=self.arn,
            resource=self.aliases[0] if self.aliases else None,
            account=self.account,
            region=self.region,
        )

    def findings(self) -> tuple[Finding, ...]:
        """One `Finding` per rule broken: policy exposures grouped by rule, one per external
        grant, a missing owner tag, and an unreadable key."""
        if self.skipped is not None:
            return ()
        origin = self.origin()
        out: list[Finding] = []
        if self.assessment is not None:
            out.extend(_policy_findings(origin, self.assessment))
        for grant in self.grant_findings:
            out.append(
                Finding(
                    origin=origin,
                    rule_id=rules.EXTERNAL_GRANT,
                    assessment=grant.assessment,
                    extra=(("grant_id", grant.grant_id), ("grantee", grant.grantee_principal)),
                )
            )
        if self.owner_tag is False:
            out.append(
                Finding(
                    origin=origin,
                    rule_id=rules.MISSING_OWNER_TAG,
                    assessment=Assessment(
                        verdict=Verdict.PRIVATE,
                        severity=rules.rule(rules.MISSING_OWNER_TAG).default_severity,
                        notes=("no owner tag with a non-empty value",),
                    ),
                )
            )
        if self.errors:
            out.append(
                Finding(
                    origin=origin,
                    rule_id=rules.UNREADABLE,
                    assessment=Assessment(
                        verdict=Verdict.ERROR,
                        severity=rules.rule(rules.UNREADABLE).default_severity,
                        errors=tuple(e.describe() for e in self.errors),
                    ),
                )
            )
        return tuple(out)

    def to_json(self) -> dict[str, object]:
        a = self.assessment
        return {
            "arn": self.arn,
            "key_id": self.key_id,
            "account": self.account,
            "region": self.region,
            "state": self.state,
            "manager": self.manager,
            "multi_region": self.multi_region,
            "aliases": list(self.aliases),
            "tags": dict(self.tags),
            "status": str(self.status),
            "verdict": str(self.verdict),
            "severity": str(self.severity),
            "policy_verdict": str(a.verdict) if a is not None else None,
            "exposures": [e.to_json() for e in a.exposures] if a is not None else [],
            "policy_errors": list(a.errors) if a is not None else [],
            "notes": list(a.notes) if a is not None else [],
            "grants_total": self.grants_total,
            "grant_findings": [g.to_json() for g in self.grant_findings],
            "owner_tag": self.owner_tag,
            "errors": [e.to_json() for e in self.errors],
        }

    def skipped_json(self) -> dict[str, object]:
        return {
            "arn": self.arn,
            "account": self.account,
            "region": self.region,
            "aliases": list(self.aliases),
            "reason": self.skipped,
        }


def _policy_findings(origin: Origin, assessment: Assessment) -> list[Finding]:
    if assessment.undecided:
        return [Finding(origin=origin, rule_id=rules.UNDECIDED, assessment=assessment)]
    if assessment.verdict is Verdict.ERROR:  # reported with the key's read errors
        return []
    by_rule: dict[str, list[ExposureKind]] = {}
    for exposure in assessment.exposures:
        by_rule.setdefault(rules.rule_for_exposure(exposure.kind), []).append(exposure.kind)
    out = []
    for rule_id, kinds in by_rule.items():
        exposures = tuple(e for e in assessment.exposures if e.kind in kinds)
        out.append(
            Finding(
                origin=origin,
                rule_id=rule_id,
                assessment=Assessment(
                    verdict=assessment.verdict,
                    severity=max_severity([e.severity for e in exposures]),
                    exposures=exposures,
                    errors=assessment.errors,
                    notes=assessment.notes,
                ),
            )
        )
    if not out and assessment.verdict is not Verdict.PRIVATE:
        verdict_rule = rules.rule_for_verdict(assessment.verdict)
        if verdict_rule is not None:
            out.append(Finding(origin=origin, rule_id=verdict_rule, assessment=assessment))
    return out


@dataclass(frozen=True, slots=True)
class ScopeFailure:
    """An account (region None) or a region of an account that could not be scanned."""

    account: str
    region: str | None
    error: ReadError

    def describe(self) -> str:
        where = f"account {self.account}" + (f" region {self.region}" if self.region else "")
        return f"{where}: {self.error.describe()}"

    def to_json(self) -> dict[str, object]:
        return {"account": self.account, "region": self.region, "error": self.error.to_json()}


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The whole scan: keys (sorted), failures, and what it cost."""

    keys: tuple[KeyResult, ...]
    failures: tuple[ScopeFailure, ...] = ()
    accounts: tuple[str, ...] = ()
    regions_scanned: int = 0  # (account, region) pairs whose keys were listed
    api_calls: tuple[tuple[str, int], ...] = ()  # logical calls per operation
    http_requests: int = 0  # including retries
    elapsed_seconds: float = 0.0
    org_id: str | None = None
    #: the (account, region) pairs whose keys were listed: what a complete scan covered
    scopes: tuple[tuple[str, str], ...] = ()

    @property
    def judged(self) -> tuple[KeyResult, ...]:
        return tuple(k for k in self.keys if k.skipped is None)

    @property
    def skipped(self) -> tuple[KeyResult, ...]:
        return tuple(k for k in self.keys if k.skipped is not None)

    @property
    def incomplete(self) -> bool:
        return bool(self.failures) or any(k.status is KeyStatus.ERROR for k in self.keys)

    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for k in self.keys for f in k.findings())

    def severities(self) -> tuple[Severity, ...]:
        """Severities that count for `--fail-on`: read errors make a scan incomplete
        (exit 4), they are not findings."""
        incomplete = (rules.UNREADABLE, rules.UNDECIDED)
        return tuple(f.severity for f in self.findings() if f.rule_id not in incomplete)

    def summary(self) -> dict[str, object]:
        judged = self.judged
        verdicts = Counter(str(k.verdict) for k in judged)
        tagged = [k for k in judged if k.owner_tag is not None]
        with_owner = sum(1 for k in tagged if k.owner_tag)
        calls = dict(self.api_calls)
        return {
            "accounts": len(self.accounts),
            "regions": self.regions_scanned,
            "failed_scopes": len(self.failures),
            "keys_scanned": len(judged),
            "keys_skipped": len(self.skipped),
            "keys_errored": sum(1 for k in judged if k.status is KeyStatus.ERROR),
            "verdicts": {str(v): verdicts.get(str(v), 0) for v in _SUMMARY_VERDICTS},
            "keys_with_owner_tag": with_owner,
            "owner_tag_share": round(with_owner / len(tagged), 4) if tagged else None,
            "incomplete": self.incomplete,
            "org_id": self.org_id,
            "api_calls": calls,
            "api_calls_total": sum(calls.values()),
            "http_requests": self.http_requests,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "summary": self.summary(),
            "keys": [k.to_json() for k in self.judged],
            "skipped_keys": [k.skipped_json() for k in self.skipped],
            "failures": [f.to_json() for f in self.failures],
        }


_SUMMARY_VERDICTS = (Verdict.PUBLIC, Verdict.CROSS_ACCOUNT, Verdict.PRIVATE, Verdict.ERROR)
