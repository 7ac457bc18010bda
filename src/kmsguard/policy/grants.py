"""Judging KMS grants, the second path to a key, against the same zone of trust."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmsguard.model import (
    Assessment,
    Exposure,
    ExposureKind,
    Severity,
    TrustZone,
    Witness,
    max_severity,
)

from . import actions as kms_actions
from .principals import read_aws_principal


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    grantee_principal: str
    retiring_principal: str | None = None
    operations: tuple[str, ...] = ()
    constraints: Mapping[str, Any] | None = None
    name: str | None = None
    issuing_account: str | None = None


def judge_grant(grant: Grant, zone: TrustZone) -> Assessment:
    """A grant whose grantee or retiring principal is outside the zone is `cross-account`
    (`public` when the principal is a wildcard) with the grant's operations exposed."""
    actions = tuple(
        a
        for a in (kms_actions.canonical_action(f"kms:{op}") for op in grant.operations)
        if a is not None
    )
    unknown_ops = [
        op for op in grant.operations if kms_actions.canonical_action(f"kms:{op}") is None
    ]
    exposures: list[Exposure] = []
    notes: list[str] = [f"unknown grant operation `{op}`" for op in unknown_ops]
    for role, principal in (
        ("grantee", grant.grantee_principal),
        ("retiring principal", grant.retiring_principal),
    ):
        if not principal:
            continue
        kind, account = _classify(principal, zone)
        if kind is None:
            continue
        base = (
            max_severity([kms_actions.action_severity(a) for a in actions])
            if actions
            else Severity.LOW
        )
        severity = base if kind is ExposureKind.PUBLIC else base.lowered()
        exposures.append(
            Exposure(
                kind=kind,
                severity=severity,
                actions=actions,
                principals=(principal if kind is ExposureKind.PUBLIC else account or principal,),
                statements=(f"grant:{grant.grant_id}",),
                witness=Witness(
                    principal=principal,
                    account=account or "",
                    action=actions[0] if actions else "kms:RetireGrant",
                    context=_constraint_context(grant.constraints),
                ),
                notes=(f"the grant's {role} is outside the zone of trust",),
            )
        )
    return Assessment.of(exposures, notes=tuple(notes))


def _classify(principal: str, zone: TrustZone) -> tuple[ExposureKind | None, str | None]:
    p = read_aws_principal(principal.strip())
    if p.kind == "any":
        return ExposureKind.PUBLIC, None
    if p.kind in ("account", "arn"):
        if p.account in zone.accounts:
            return None, p.account
        return ExposureKind.CROSS_ACCOUNT, p.account
    if principal.endswith(".amazonaws.com") or principal.endswith(".amazonaws.com.cn"):
        return None, None  # an AWS service principal acting for the grant's creator
    # something we cannot place (a unique id, a malformed value): never a silent pass
    return ExposureKind.CROSS_ACCOUNT, None


def _constraint_context(
    constraints: Mapping[str, Any] | None,
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not constraints:
        return ()
    out: list[tuple[str, tuple[str, ...]]] = []
    for kind in ("EncryptionContextEquals", "EncryptionContextSubset"):
        for k, v in dict(constraints.get(kind) or {}).items():
            out.append((f"kms:encryptioncontext:{k}", (str(v),)))
    return tuple(sorted(out))
