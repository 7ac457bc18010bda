"""The typed alert every entry point emits and every sink (and, later, the history recorder)
receives: one frozen value, serialisable to JSON and back without loss."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kmsguard.model import Assessment, Exposure


class AlertType(StrEnum):
    EXPOSED = "exposed"  # the key's policy became public / cross-account, or exposes more
    RESOLVED = "resolved"  # a key that was exposed is private again
    GRANT = "grant"  # a grant reaches outside the zone of trust
    OWNER_TAG_REMOVED = "owner-tag-removed"  # the key lost its owner tag
    ERROR = "error"  # the event could not be read or judged: never a silent pass


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made the change: the principal a key policy would name, and where from."""

    principal: str | None
    principal_type: str | None = None
    account: str | None = None
    arn: str | None = None  # the caller's own ARN (a session ARN for an assumed role)
    source_ip: str | None = None
    user_agent: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "principal": self.principal,
            "principal_type": self.principal_type,
            "account": self.account,
            "arn": self.arn,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Actor:
        return cls(**{k: raw.get(k) for k in cls.__slots__})


NO_ACTOR = Actor(principal=None)


@dataclass(frozen=True, slots=True)
class Alert:
    """One change worth telling someone about."""

    type: AlertType
    key_arn: str | None
    event_id: str | None
    event_name: str | None
    event_time: str | None
    account: str | None
    region: str | None
    actor: Actor
    verdict: str | None  # the key's verdict after the event (public, cross-account, ...)
    previous_verdict: str | None
    severity: str
    exposed_actions: tuple[str, ...] = ()
    exposures: tuple[dict[str, Any], ...] = ()  # Exposure.to_json() of each exposure
    witness: dict[str, Any] | None = None  # the first exposure's witness
    reason: str = ""  # why this alert: the change, or (for `error`) what is wrong
    grant_id: str | None = None
    exposed_since: str | None = None  # for `resolved`: when the exposure began (MTTR)
    remediation: dict[str, Any] | None = None  # what --remediate did, when it ran

    @property
    def alert_id(self) -> str:
        """Stable id of this alert: the same event always gives the same ids."""
        basis = f"{self.event_id}|{self.type}|{self.key_arn}|{self.grant_id}"
        return hashlib.sha256(basis.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "type": str(self.type),
            "key_arn": self.key_arn,
            "event_id": self.event_id,
            "event_name": self.event_name,
            "event_time": self.event_time,
            "account": self.account,
            "region": self.region,
            "actor": self.actor.to_json(),
            "verdict": self.verdict,
            "previous_verdict": self.previous_verdict,
            "severity": self.severity,
            "exposed_actions": list(self.exposed_actions),
            "exposures": [dict(e) for e in self.exposures],
            "witness": self.witness,
            "reason": self.reason,
            "grant_id": self.grant_id,
            "exposed_since": self.exposed_since,
            "remediation": self.remediation,
        }

    def to_json_line(self) -> str:
        return json.dumps(self.to_json(), sort_keys=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Alert:
        return cls(
            type=AlertType(raw["type"]),
            key_arn=raw.get("key_arn"),
            event_id=raw.get("event_id"),
            event_name=raw.get("event_name"),
            event_time=raw.get("event_time"),
            account=raw.get("account"),
            region=raw.get("region"),
            actor=Actor.from_json(raw.get("actor") or {}),
            verdict=raw.get("verdict"),
            previous_verdict=raw.get("previous_verdict"),
            severity=str(raw.get("severity") or "none"),
            exposed_actions=tuple(raw.get("exposed_actions") or ()),
            exposures=tuple(raw.get("exposures") or ()),
            witness=raw.get("witness"),
            reason=str(raw.get("reason") or ""),
            grant_id=raw.get("grant_id"),
            exposed_since=raw.get("exposed_since"),
            remediation=raw.get("remediation"),
        )

    def summary(self) -> str:
        """One line for chat and e-mail subjects."""
        who = self.actor.principal or "unknown principal"
        where = self.key_arn or "unknown key"
        match self.type:
            case AlertType.EXPOSED:
                actions = ", ".join(a.removeprefix("kms:") for a in self.exposed_actions[:6])
                return (
                    f"[{self.severity}] KMS key {where} is {self.verdict} "
                    f"({actions}) after {self.event_name} by {who}"
                )
            case AlertType.RESOLVED:
                return (
                    f"[resolved] KMS key {where} is private again after {self.event_name} by {who}"
                )
            case AlertType.GRANT:
                return (
                    f"[{self.severity}] grant {self.grant_id} on KMS key {where} reaches "
                    f"outside the zone of trust ({self.event_name} by {who})"
                )
            case AlertType.OWNER_TAG_REMOVED:
                return (
                    f"[{self.severity}] KMS key {where} lost its owner tag "
                    f"({self.event_name} by {who})"
                )
            case AlertType.ERROR:
                return f"[error] event {self.event_id or '?'}: {self.reason}"


def exposure_fields(
    assessment: Assessment | None,
) -> tuple[tuple[str, ...], tuple[dict[str, Any], ...], dict[str, Any] | None]:
    """(exposed actions, exposures as JSON, first witness) of an assessment."""
    if assessment is None:
        return (), (), None
    return exposures_fields(assessment.exposures)


def exposures_fields(
    exposures: tuple[Exposure, ...],
) -> tuple[tuple[str, ...], tuple[dict[str, Any], ...], dict[str, Any] | None]:
    actions = tuple(sorted({a for e in exposures for a in e.actions}))
    witness = next((e.witness.to_json() for e in exposures if e.witness is not None), None)
    return actions, tuple(e.to_json() for e in exposures), witness
