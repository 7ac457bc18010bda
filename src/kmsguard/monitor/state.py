"""What the monitor remembers between events, behind one small interface with two backends:
the history store (SQLAlchemy, `kmsguard.store.monitor_state`) for the queue consumer and
replay, and a DynamoDB table with conditional writes (`state_dynamodb`) for Lambda.

Handling an event ends in one atomic `record`: the event id is claimed (a second claim of
the same id is a `DUPLICATE`) and the key's state moves from the version the handler read
to the next (a concurrent change of the same key is a `CONFLICT`: read again, judge again).
Alerts are recorded with the claim as *pending* and marked *delivered* once every sink has
them; a pending event whose claim is older than a lease may be reclaimed and delivered again
(the consumer that claimed it died), so alerts are delivered at least once and, while
consumers live, exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from .alerts import Alert

#: A claimed event whose alerts were not delivered within this time may be reclaimed.
DEFAULT_LEASE = timedelta(seconds=20)


class Claim(StrEnum):
    CLAIMED = "claimed"  # this handler owns the event: deliver its alerts
    DUPLICATE = "duplicate"  # the event id was recorded before
    CONFLICT = "conflict"  # the key changed since it was read: judge again


@dataclass(frozen=True, slots=True)
class KeyState:
    """The monitor's view of one key after the last event it applied."""

    key_arn: str
    version: int = 0  # 0: never stored
    last_event_time: str | None = None  # ISO 8601, UTC
    last_event_id: str | None = None
    verdict: str = "unknown"  # the key's verdict: the worst of its policy's and grants'
    policy_verdict: str | None = None
    severity: str = "none"
    exposure_signature: tuple[str, ...] = ()  # "<kind>:<action>" of every exposure
    external_grants: tuple[tuple[str, str], ...] = ()  # (grant id, verdict) outside the zone
    owner_tag: bool | None = None  # None: never seen
    key_state: str | None = None  # Enabled, Disabled, PendingDeletion
    exposed_since: str | None = None  # event time when the key stopped being private
    last_private_policy: str | None = None  # for --remediate
    policy_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "last_event_time": self.last_event_time,
            "last_event_id": self.last_event_id,
            "verdict": self.verdict,
            "policy_verdict": self.policy_verdict,
            "severity": self.severity,
            "exposure_signature": list(self.exposure_signature),
            "external_grants": [list(g) for g in self.external_grants],
            "owner_tag": self.owner_tag,
            "key_state": self.key_state,
            "exposed_since": self.exposed_since,
            "last_private_policy": self.last_private_policy,
            "policy_sha256": self.policy_sha256,
        }

    @classmethod
    def from_json(cls, key_arn: str, version: int, raw: dict[str, Any]) -> KeyState:
        return cls(
            key_arn=key_arn,
            version=version,
            last_event_time=raw.get("last_event_time"),
            last_event_id=raw.get("last_event_id"),
            verdict=str(raw.get("verdict") or "unknown"),
            policy_verdict=raw.get("policy_verdict"),
            severity=str(raw.get("severity") or "none"),
            exposure_signature=tuple(raw.get("exposure_signature") or ()),
            external_grants=tuple((str(g[0]), str(g[1])) for g in raw.get("external_grants") or ()),
            owner_tag=raw.get("owner_tag"),
            key_state=raw.get("key_state"),
            exposed_since=raw.get("exposed_since"),
            last_private_policy=raw.get("last_private_policy"),
            policy_sha256=raw.get("policy_sha256"),
        )


class MonitorState(Protocol):
    """Seen event ids, and the last applied event time and verdict of every key."""

    def seen(self, event_id: str) -> bool:
        """Was this event id recorded before?"""
        ...

    def key(self, key_arn: str) -> KeyState | None:
        """The key's state, or None if no event of it was applied yet."""
        ...

    def record(
        self,
        event_id: str,
        new: KeyState | None,
        alerts: Sequence[Alert],
        *,
        expected_version: int,
        now: datetime,
    ) -> Claim:
        """Atomically claim `event_id` and (if `new`) store `new` as the next version of its
        key, if the stored version still is `expected_version` (0: no row yet)."""
        ...

    def delivered(self, event_id: str) -> None:
        """Every sink has the event's alerts."""
        ...

    def reclaim(self, event_id: str, *, now: datetime, lease: timedelta) -> tuple[Alert, ...]:
        """The alerts of an event claimed longer than `lease` ago and still undelivered,
        claimed again for this caller; () if there is nothing to deliver."""
        ...


class StateError(Exception):
    """The state backend could not be read or written (the event stays unhandled)."""
