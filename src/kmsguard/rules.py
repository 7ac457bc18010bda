"""Rule metadata (id, title, severity, remediation) — data in `rules.json`, read once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from kmsguard.model import Assessment, ExposureKind, Severity, Verdict

PUBLIC_POLICY = "KMS001"
CROSS_ACCOUNT_POLICY = "KMS002"
CONFUSED_DEPUTY = "KMS003"
EXTERNAL_GRANT = "KMS004"
MISSING_OWNER_TAG = "KMS005"
UNRESOLVED_POLICY = "KMS006"
UNREADABLE = "KMS007"
UNDECIDED = "KMS008"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    description: str
    remediation: str
    default_severity: Severity


@cache
def all_rules() -> dict[str, Rule]:
    raw = json.loads(resources.files("kmsguard").joinpath("rules.json").read_text("utf-8"))
    return {
        rid: Rule(
            id=rid,
            title=r["title"],
            description=r["description"],
            remediation=r["remediation"],
            default_severity=Severity(r["default_severity"]),
        )
        for rid, r in raw.items()
    }


def rule(rule_id: str) -> Rule:
    return all_rules()[rule_id]


def rule_for_verdict(verdict: Verdict) -> str | None:
    """The rule a policy verdict reports under; None for private (nothing to report)."""
    match verdict:
        case Verdict.PUBLIC:
            return PUBLIC_POLICY
        case Verdict.CROSS_ACCOUNT:
            return CROSS_ACCOUNT_POLICY
        case Verdict.ERROR:
            return UNREADABLE
        case Verdict.UNRESOLVED:
            return UNRESOLVED_POLICY
        case Verdict.PRIVATE:
            return None


def rule_for_assessment(assessment: Assessment) -> str | None:
    """The rule a policy's assessment reports under: an undecided analysis is "could not
    decide", any other `error` "could not be read"."""
    if assessment.undecided:
        return UNDECIDED
    return rule_for_verdict(assessment.verdict)


def rule_for_exposure(kind: ExposureKind) -> str:
    match kind:
        case ExposureKind.PUBLIC:
            return PUBLIC_POLICY
        case ExposureKind.CROSS_ACCOUNT:
            return CROSS_ACCOUNT_POLICY
        case ExposureKind.CONFUSED_DEPUTY:
            return CONFUSED_DEPUTY
        case ExposureKind.GRANT:
            return EXTERNAL_GRANT
