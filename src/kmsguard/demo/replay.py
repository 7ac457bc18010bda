"""The demo's `monitor replay` step: the saved events go through the monitor's own handler
(`kmsguard.monitor`, as `kmsguard monitor replay FILE --record --db URL --no-stdout` runs
it), whose history sink records `exposed` / `resolved` alerts through the store's recorder
API (`History.record_monitor_alert`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from kmsguard.model import TrustZone


def replay(events_file: Path, db_url: str) -> list[str]:
    """Replay a CloudTrail log file into the monitor and the history; one line per alert."""
    from kmsguard.monitor.build import MonitorSettings, build_monitor
    from kmsguard.monitor.replay import replay_items

    alerts = io.StringIO()
    settings = MonitorSettings(
        zone=TrustZone(), db_url=db_url, stdout=True, read_policies=False, record=True
    )
    monitor = build_monitor(settings, None, stream=alerts)
    lines = []
    for item in replay_items(events_file):
        if item.raw is None:
            lines.append(f"{item.where}: {item.error}")
            continue
        monitor.handle(item.raw)
    for text in alerts.getvalue().splitlines():
        if not text.strip():
            continue
        alert = json.loads(text)
        who = (alert.get("actor") or {}).get("arn") or "?"
        lines.append(
            f"{alert['event_time']}  {alert['event_name']} by {who}: {alert['type']} "
            f"({alert['verdict']}, {alert['severity']}) - {alert['reason']}"
        )
    return lines
