"""What the recorder is given: findings and keys as values, with the stable identity a
finding keeps across scans (kind + key ARN or file + resource + rule, + grant id)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmsguard import rules
from kmsguard.model import (
    Assessment,
    Exposure,
    ExposureKind,
    Finding,
    Severity,
    Verdict,
    Witness,
)

from .models import RunKind

#: rules about the key policy itself: a policy change (fix, monitor event) opens or
#: resolves these; grants and tags are left to scans
POLICY_RULES = (rules.PUBLIC_POLICY, rules.CROSS_ACCOUNT_POLICY, rules.CONFUSED_DEPUTY)
#: not misconfigurations: an unreadable key makes its scan incomplete instead
NOT_RECORDED = frozenset({rules.UNREADABLE})


def aws_scope_unit(account: str, region: str) -> str:
    return f"{account}/{region}"


def parse_key_arn(arn: str) -> tuple[str, str]:
    """(account, region) of `arn:aws:kms:REGION:ACCOUNT:key/ID`."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "kms" or not parts[4].isdigit():
        raise ValueError(f"`{arn}` is not a KMS key ARN")
    return parts[4], parts[3]


@dataclass(frozen=True, slots=True)
class Observation:
    """One finding as a scan or an event saw it."""

    kind: RunKind
    subject: str  # key ARN, or the template's absolute path
    rule_id: str
    scope_unit: str  # "ACCOUNT/REGION" (aws) or the absolute path (iac)
    display_source: str
    verdict: Verdict
    severity: Severity
    resource: str | None = None
    detail_id: str | None = None
    account: str | None = None
    region: str | None = None
    line: int | None = None
    statements: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()
    witness: str | None = None

    @property
    def identity(self) -> str:
        # a live key is its ARN (an alias may change); a template resource is file + name
        resource = (self.resource or "") if self.kind is RunKind.IAC else ""
        parts = (str(self.kind), self.subject, resource, self.rule_id, self.detail_id or "")
        return "\x1f".join(parts)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.identity.encode("utf-8")).hexdigest()

    @property
    def title(self) -> str:
        return rules.rule(self.rule_id).title

    @property
    def remediation(self) -> str:
        return rules.rule(self.rule_id).remediation


def _details(assessment: Assessment) -> dict[str, object]:
    exposures = assessment.exposures
    witness = next((e.witness.describe() for e in exposures if e.witness is not None), None)
    return {
        "statements": tuple(dict.fromkeys(s for e in exposures for s in e.statements)),
        "actions": assessment.exposed_actions,
        "principals": tuple(dict.fromkeys(p for e in exposures for p in e.principals)),
        "witness": witness,
    }


def observe_aws(finding: Finding) -> Observation | None:
    """A live scan's finding (origin: the key ARN, account, region); None if not recorded."""
    if finding.rule_id is None or finding.rule_id in NOT_RECORDED:
        return None
    origin = finding.origin
    account, region = origin.account, origin.region
    if account is None or region is None:
        account, region = parse_key_arn(origin.source)
    return Observation(
        kind=RunKind.AWS,
        subject=origin.source,
        rule_id=finding.rule_id,
        scope_unit=aws_scope_unit(account, region),
        display_source=origin.source,
        verdict=finding.verdict,
        severity=finding.severity,
        resource=origin.resource,
        detail_id=dict(finding.extra).get("grant_id"),
        account=account,
        region=region,
        **_details(finding.assessment),  # type: ignore[arg-type]
    )


def observe_iac(finding: Finding, base: Path | None = None) -> Observation | None:
    """A template's finding; its file is identified by its absolute path (relative paths
    are taken from `base`, default the current folder). None if not recorded."""
    if finding.rule_id is None or finding.rule_id in NOT_RECORDED or finding.suppressed:
        return None
    origin = finding.origin
    path = Path(origin.source)
    subject = str((base / path if base and not path.is_absolute() else path).resolve())
    return Observation(
        kind=RunKind.IAC,
        subject=subject,
        rule_id=finding.rule_id,
        scope_unit=subject,
        display_source=origin.source,
        verdict=finding.verdict,
        severity=finding.severity,
        resource=origin.resource,
        detail_id=None,
        line=origin.line,
        **_details(finding.assessment),  # type: ignore[arg-type]
    )


def observe_policy(key_arn: str, assessment: Assessment) -> tuple[Observation, ...]:
    """The key-policy findings one judged policy of a live key stands for (one per rule),
    as `scan aws` would record them."""
    account, region = parse_key_arn(key_arn)
    by_rule: dict[str, list[int]] = {}
    for i, exposure in enumerate(assessment.exposures):
        by_rule.setdefault(rules.rule_for_exposure(exposure.kind), []).append(i)
    out = []
    for rule_id, indexes in by_rule.items():
        if rule_id not in POLICY_RULES:
            continue
        part = Assessment.of(
            [assessment.exposures[i] for i in indexes], errors=assessment.errors
        )
        out.append(
            Observation(
                kind=RunKind.AWS,
                subject=key_arn,
                rule_id=rule_id,
                scope_unit=aws_scope_unit(account, region),
                display_source=key_arn,
                verdict=assessment.verdict,
                severity=part.severity,
                account=account,
                region=region,
                **_details(part),  # type: ignore[arg-type]
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    """One key as a live scan saw it (for the inventory KPIs)."""

    key_arn: str
    account: str
    region: str
    manager: str | None
    state: str | None
    verdict: str
    severity: str
    owner_tag: bool | None
    aliases: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()


def assessment_from_exposures(raw: Sequence[Mapping[str, Any]]) -> Assessment:
    """The `Assessment` that `Exposure.to_json()` values stand for (an alert carries its
    exposures as JSON); the verdict and severity follow from them."""
    exposures = []
    for e in raw:
        w = e.get("witness")
        witness = None
        if isinstance(w, Mapping):
            context = w.get("context") or {}
            witness = Witness(
                principal=str(w["principal"]),
                account=str(w["account"]),
                action=str(w["action"]),
                org_id=w.get("org_id"),
                context=tuple(sorted((str(k), tuple(v)) for k, v in context.items())),
                principal_type=str(w.get("principal_type") or "AssumedRole"),
            )
        exposures.append(
            Exposure(
                kind=ExposureKind(e["kind"]),
                severity=Severity(e["severity"]),
                actions=tuple(e.get("actions") or ()),
                principals=tuple(e.get("principals") or ()),
                statements=tuple(e.get("statements") or ()),
                witness=witness,
                network_restricted=bool(e.get("network_restricted")),
                network_conditions=tuple(e.get("network_conditions") or ()),
                notes=tuple(e.get("notes") or ()),
            )
        )
    return Assessment.of(exposures)
