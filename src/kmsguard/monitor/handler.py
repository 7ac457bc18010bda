"""The one event handler behind every entry point (Lambda, queue consumer, replay): read the
event, judge the key's new state with the engine, compare it with the last state applied,
record the outcome atomically, and deliver the alerts a change calls for."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from kmsguard.aws.scan import PolicyJudge
from kmsguard.errors import KmsguardError
from kmsguard.model import TrustZone

from .alerts import NO_ACTOR, Alert, AlertType
from .events import EventError, Ignored, KmsEvent, parse_event, parse_time
from .judging import Judged, judge_event, unjudged
from .sinks import AlertSink
from .state import DEFAULT_LEASE, Claim, KeyState, MonitorState, StateError

log = logging.getLogger("kmsguard.monitor")

_MAX_CONFLICTS = 8
_JUDGE_RESET = 50_000  # events between fresh caches (bounded memory in long runs)


class Status(StrEnum):
    ALERTED = "alerted"  # alerts were delivered
    NO_CHANGE = "no-change"  # applied; nothing worth an alert
    DUPLICATE = "duplicate"  # this event id was handled before
    STALE = "stale"  # older than the last event applied to the key: changes nothing
    IGNORED = "ignored"  # not an event that can change a key's exposure
    MALFORMED = "malformed"  # not readable: an `error` alert, and the message is a failure


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    event_id: str | None
    alerts: tuple[Alert, ...] = ()
    detail: str = ""

    @property
    def failed(self) -> bool:
        """A queue consumer leaves failed messages for redelivery (and the DLQ)."""
        return self.status is Status.MALFORMED


class KeyReader(Protocol):
    """Reads a key's live policy when the event does not carry it (GetKeyPolicy)."""

    def policy(self, key_arn: str) -> str: ...


class Remediator(Protocol):
    """Acts on an `exposed` alert (see `remediate.PolicyRestorer`); returns what it did."""

    def remediate(self, alert: Alert, event: KmsEvent, before: KeyState) -> dict[str, Any]: ...


class RetryLaterError(KmsguardError):
    """The event could not be handled now (AWS or the state unreachable): leave it for
    redelivery."""


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """The zone of trust beyond each key's own account, and the owner tag keys."""

    zone: TrustZone = field(default_factory=TrustZone)
    owner_tag_keys: tuple[str, ...] = ("owner",)
    lease: timedelta = DEFAULT_LEASE


class Monitor:
    """Handle events one at a time, in the order they are given."""

    def __init__(
        self,
        state: MonitorState,
        sink: AlertSink,
        *,
        config: MonitorConfig | None = None,
        reader: KeyReader | None = None,
        remediator: Remediator | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.state = state
        self.sink = sink
        self.config = config or MonitorConfig()
        self.reader = reader
        self.remediator = remediator
        self.clock = clock
        self._judge = PolicyJudge()
        self._handled = 0

    # --- entry point ----------------------------------------------------------------------

    def handle(self, raw: bytes | str | Mapping[str, Any]) -> Outcome:
        """Handle one event. Raises `RetryLaterError` (the event stays unhandled) or
        `SinkError` (alerts recorded as pending: a redelivery sends them)."""
        self._handled += 1
        if self._handled % _JUDGE_RESET == 0:
            self._judge = PolicyJudge()
        try:
            parsed = parse_event(raw)
        except EventError as exc:
            return self._malformed(raw, exc)
        if isinstance(parsed, Ignored):
            log.debug("ignored %s: %s", parsed.event_id, parsed.reason)
            return Outcome(Status.IGNORED, parsed.event_id, detail=parsed.reason)
        try:
            return self._handle_event(parsed)
        except StateError as exc:
            raise RetryLaterError(f"event `{parsed.event_id}`: {exc}") from exc

    # --- events ---------------------------------------------------------------------------

    def _handle_event(self, event: KmsEvent) -> Outcome:
        if self.state.seen(event.event_id):
            return self._duplicate(event.event_id)
        for _ in range(_MAX_CONFLICTS):
            before = self.state.key(event.key_arn)
            if before is not None and before.last_event_time is not None:
                applied = parse_time(before.last_event_time)
                if event.event_time < applied:
                    return self._stale(event, before)
            judged = self._judge_event(event, before or KeyState(key_arn=event.key_arn))
            claim = self.state.record(
                event.event_id,
                judged.state,
                judged.alerts,
                expected_version=before.version if before is not None else 0,
                now=self.clock(),
            )
            if claim is Claim.DUPLICATE:
                return self._duplicate(event.event_id)
            if claim is Claim.CLAIMED:
                alerts = self._remediate(judged.alerts, event, before)
                self._deliver(event.event_id, alerts)
                status = Status.ALERTED if alerts else Status.NO_CHANGE
                return Outcome(status, event.event_id, alerts)
            log.debug(
                "key %s changed while %s was judged; judging again", event.key_arn, event.event_id
            )
        raise RetryLaterError(
            f"event `{event.event_id}`: key `{event.key_arn}` kept changing under it"
        )

    def _judge_event(self, event: KmsEvent, before: KeyState) -> Judged:
        policy = event.policy
        if policy is None and not event.default_policy and event.event_name == "PutKeyPolicy":
            if self.reader is None:
                return unjudged(
                    event,
                    before,
                    "the event carries no policy and there is no AWS access to read it",
                )
            try:
                policy = self.reader.policy(event.key_arn)
            except KmsguardError as exc:
                raise RetryLaterError(f"event `{event.event_id}`: {exc.message}") from exc
        zone = replace(self.config.zone, account=event.account)
        return judge_event(
            event,
            before,
            policy,
            zone=zone,
            judge=self._judge,
            owner_keys=self.config.owner_tag_keys,
        )

    def _remediate(
        self, alerts: tuple[Alert, ...], event: KmsEvent, before: KeyState | None
    ) -> tuple[Alert, ...]:
        if self.remediator is None:
            return alerts
        known = before or KeyState(key_arn=event.key_arn)
        out = []
        for alert in alerts:
            if alert.type is AlertType.EXPOSED and event.policy is not None:
                alert = replace(alert, remediation=self.remediator.remediate(alert, event, known))
            out.append(alert)
        return tuple(out)

    def _deliver(self, event_id: str, alerts: tuple[Alert, ...]) -> None:
        if not alerts:
            return
        for alert in alerts:
            self.sink.send(alert)
        self.state.delivered(event_id)

    def _duplicate(self, event_id: str) -> Outcome:
        pending = self.state.reclaim(event_id, now=self.clock(), lease=self.config.lease)
        if pending:
            log.info("event %s: delivering alerts a previous handler did not", event_id)
            self._deliver(event_id, pending)
        return Outcome(Status.DUPLICATE, event_id, pending, "handled before")

    def _stale(self, event: KmsEvent, before: KeyState) -> Outcome:
        detail = (
            f"{event.event_name} at {event.event_time_text} is older than the last event "
            f"applied to {event.key_arn} ({before.last_event_id} at {before.last_event_time})"
        )
        log.warning("stale event %s: %s", event.event_id, detail)
        claim = self.state.record(
            event.event_id, None, (), expected_version=before.version, now=self.clock()
        )
        if claim is Claim.DUPLICATE:
            return self._duplicate(event.event_id)
        return Outcome(Status.STALE, event.event_id, detail=detail)

    # --- malformed input ------------------------------------------------------------------

    def _malformed(self, raw: bytes | str | Mapping[str, Any], exc: EventError) -> Outcome:
        """One `error` alert per distinct unreadable input (by event id, else by content)."""
        token = exc.event_id or "malformed:" + _content_hash(raw)
        alert = Alert(
            type=AlertType.ERROR,
            key_arn=None,
            event_id=exc.event_id,
            event_name=None,
            event_time=None,
            account=None,
            region=None,
            actor=NO_ACTOR,
            verdict=None,
            previous_verdict=None,
            severity="none",
            reason=exc.reason,
        )
        log.error("unreadable event %s: %s", exc.event_id or "(no id)", exc.reason)
        try:
            claim = self.state.record(token, None, (alert,), expected_version=0, now=self.clock())
        except StateError as state_exc:
            raise RetryLaterError(f"unreadable event: {state_exc}") from state_exc
        if claim is Claim.CLAIMED:
            self._deliver(token, (alert,))
            return Outcome(Status.MALFORMED, exc.event_id, (alert,), exc.reason)
        dup = self._duplicate(token)
        return Outcome(Status.MALFORMED, exc.event_id, dup.alerts, exc.reason)


def _content_hash(raw: bytes | str | Mapping[str, Any]) -> str:
    if isinstance(raw, Mapping):
        text = repr(sorted(raw.items(), key=lambda kv: str(kv[0])))
        data = text.encode("utf-8", "replace")
    else:
        data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    return hashlib.sha256(data).hexdigest()[:40]


__all__ = [
    "KeyReader",
    "Monitor",
    "MonitorConfig",
    "Outcome",
    "Remediator",
    "RetryLaterError",
    "Status",
]
