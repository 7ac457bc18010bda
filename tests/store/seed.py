"""Building blocks for seeded histories: observations and snapshots of made-up keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kmsguard import rules
from kmsguard.model import Assessment, Exposure, ExposureKind, Severity, Verdict, Witness
from kmsguard.store import KeySnapshot, Observation, RunKind
from kmsguard.store.observations import aws_scope_unit

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
A1, A2 = "111122223333", "444455556666"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def arn(n: int, account: str = A1, region: str = "eu-west-1") -> str:
    return f"arn:aws:kms:{region}:{account}:key/00000000-0000-4000-8000-{n:012d}"


def public_assessment(sid: str = "Open") -> Assessment:
    witness = Witness(
        principal="arn:aws:iam::999988887777:role/probe", account="999988887777",
        action="kms:Decrypt",
    )
    exposure = Exposure(
        kind=ExposureKind.PUBLIC, severity=Severity.CRITICAL, actions=("kms:Decrypt",),
        principals=("*",), statements=(sid,), witness=witness,
    )
    return Assessment.of([exposure])


def cross_assessment() -> Assessment:
    exposure = Exposure(
        kind=ExposureKind.CROSS_ACCOUNT, severity=Severity.HIGH, actions=("kms:Decrypt",),
        principals=("777788889999",), statements=("Partner",), witness=None,
    )
    return Assessment.of([exposure])


def aws_obs(key: str, rule: str = rules.PUBLIC_POLICY, sev: Severity = Severity.CRITICAL,
            verdict: Verdict = Verdict.PUBLIC) -> Observation:
    account, region = key.split(":")[4], key.split(":")[3]
    return Observation(
        kind=RunKind.AWS, subject=key, rule_id=rule, scope_unit=aws_scope_unit(account, region),
        display_source=key, verdict=verdict, severity=sev, account=account, region=region,
        statements=("Open",), witness="someone is allowed kms:Decrypt",
    )


def iac_obs(path: str, resource: str, sev: Severity = Severity.CRITICAL) -> Observation:
    return Observation(
        kind=RunKind.IAC, subject=path, rule_id=rules.PUBLIC_POLICY, scope_unit=path,
        display_source=path, verdict=Verdict.PUBLIC, severity=sev, resource=resource, line=3,
    )


def snap(key: str, *, owner: bool | None, verdict: str = "private",
         manager: str = "CUSTOMER", tags: tuple[tuple[str, str], ...] = ()) -> KeySnapshot:
    account, region = key.split(":")[4], key.split(":")[3]
    return KeySnapshot(
        key_arn=key, account=account, region=region, manager=manager, state="Enabled",
        verdict=verdict, severity="none", owner_tag=owner, aliases=(), tags=tags,
    )
