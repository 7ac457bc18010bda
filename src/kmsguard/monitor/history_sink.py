"""`kmsguard monitor ... --record`: alerts into the findings history, through the store's
recorder API (`History.record_monitor_alert`): `exposed` opens the key's key-policy findings,
`resolved` resolves them, each by its event (id and time), so `kmsguard report` counts the
exposures the monitor saw between scans and their time to remediate."""

from __future__ import annotations

from datetime import UTC, datetime

from kmsguard.store import History, StoreError
from kmsguard.store.observations import assessment_from_exposures

from .alerts import Alert, AlertType
from .sinks import SinkError


def _when(alert: Alert) -> datetime:
    if alert.event_time:
        try:
            parsed = datetime.fromisoformat(alert.event_time.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


class HistorySink:
    """Records `exposed` and `resolved` alerts of a key policy; the other alert types
    (grants, owner tags, errors) are left to the next recorded scan."""

    def __init__(self, history: History) -> None:
        self.history = history

    def send(self, alert: Alert) -> None:
        if alert.key_arn is None or alert.type not in (AlertType.EXPOSED, AlertType.RESOLVED):
            return
        event_id = alert.event_id or alert.alert_id
        try:
            if alert.type is AlertType.EXPOSED:
                if not alert.exposures:
                    return
                self.history.record_monitor_alert(
                    key_arn=alert.key_arn,
                    status="exposed",
                    event_id=event_id,
                    event_time=_when(alert),
                    assessment=assessment_from_exposures(alert.exposures),
                )
            else:
                self.history.record_monitor_alert(
                    key_arn=alert.key_arn,
                    status="resolved",
                    event_id=event_id,
                    event_time=_when(alert),
                )
        except (StoreError, ValueError) as exc:
            message = exc.message if isinstance(exc, StoreError) else str(exc)
            raise SinkError(f"history: {message}") from exc
