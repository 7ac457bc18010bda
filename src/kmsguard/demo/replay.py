"""The demo's `monitor replay` step.

HOOK(monitor, issue 14): `kmsguard monitor` is built in parallel. When it has a replay
entry point that records through the history store, call it here instead of
`_replay_with_recorder` (the command the demo prints is already
`kmsguard monitor replay FILE --record --db URL`). Until then this stand-in does what that
command is specified to do: judge the policy each PutKeyPolicy event sets with the engine
and record the result through the recorder API the monitor uses
(`History.record_monitor_alert`: exposed opens a finding, resolved resolves it, with the
event's id and time).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from kmsguard.model import SELF_ACCOUNT, TrustZone, Verdict


def replay(events_file: Path, db_url: str) -> list[str]:
    """Replay CloudTrail records (`{"Records": [...]}`) into the history; one line each."""
    return _replay_with_recorder(events_file, db_url)


def _replay_with_recorder(events_file: Path, db_url: str) -> list[str]:
    from kmsguard.policy import analyze_policy
    from kmsguard.store import History, open_database

    records: list[dict[str, Any]] = json.loads(events_file.read_text("utf-8"))["Records"]
    history = History(open_database(db_url))
    lines = []
    try:
        for record in sorted(records, key=lambda r: str(r["eventTime"])):
            if record.get("eventName") != "PutKeyPolicy":
                continue
            params = record["requestParameters"]
            key_arn = str(params["keyId"])
            account = key_arn.split(":")[4] if key_arn.startswith("arn:") else SELF_ACCOUNT
            assessment = analyze_policy(params["policy"], TrustZone(account=account),
                                        key_arn=key_arn)
            when = datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00"))
            exposed = assessment.verdict in (Verdict.PUBLIC, Verdict.CROSS_ACCOUNT)
            result = history.record_monitor_alert(
                key_arn=key_arn,
                status="exposed" if exposed else "resolved",
                event_id=str(record["eventID"]),
                event_time=when,
                assessment=assessment if exposed else None,
            )
            who = record["userIdentity"].get("arn", "?")
            verdict = f"{assessment.verdict} {assessment.severity}" if exposed else "private"
            lines.append(
                f"{record['eventTime']}  PutKeyPolicy by {who}: {verdict}"
                + (" -> alert, finding opened" if result.opened else "")
                + (f" -> resolved {len(result.resolved)} finding(s)" if result.resolved else "")
            )
    finally:
        history.engine.dispose()
    return lines
