"""AWS Lambda entry point, `kmsguard.monitor.lambda_handler.handler`, behind an EventBridge
rule (deploy/monitor.yaml). Settings come from the environment:

- `KMSGUARD_STATE_TABLE` (required): the DynamoDB table of the monitor's state
- `KMSGUARD_SNS_TOPIC_ARN`, `KMSGUARD_WEBHOOK_URL`: where alerts go (also to the log)
- `KMSGUARD_ORG_ID`, `KMSGUARD_TRUSTED_ACCOUNTS`, `KMSGUARD_TRUSTED_ORGS` (comma-separated):
  the zone of trust beyond each key's own account
- `KMSGUARD_OWNER_TAG_KEYS` (default `owner`), `KMSGUARD_READ_POLICIES` (default `true`)

The monitor is built on the first invocation and reused while the container lives. An
unreadable event raises after its `error` alert, so Lambda retries it and then sends it to
the dead-letter queue; so do failures that a retry may cure (AWS, the state, a sink)."""

from __future__ import annotations

import logging
import os
from typing import Any

from kmsguard.errors import InputError, KmsguardError
from kmsguard.model import TrustZone

from .build import MonitorSettings, build_monitor
from .handler import Monitor

log = logging.getLogger("kmsguard.monitor")

_monitor: Monitor | None = None


class UnreadableEventError(KmsguardError):
    """Raised so that Lambda's retries and dead-letter queue keep the event."""


def _list(name: str) -> frozenset[str]:
    return frozenset(v.strip() for v in os.environ.get(name, "").split(",") if v.strip())


def settings_from_environment() -> MonitorSettings:
    table = os.environ.get("KMSGUARD_STATE_TABLE", "").strip()
    if not table:
        raise InputError("KMSGUARD_STATE_TABLE is not set", hint="the DynamoDB state table name")
    org = os.environ.get("KMSGUARD_ORG_ID", "").strip()
    webhook = os.environ.get("KMSGUARD_WEBHOOK_URL", "").strip()
    owner_keys = tuple(sorted(_list("KMSGUARD_OWNER_TAG_KEYS"))) or ("owner",)
    return MonitorSettings(
        zone=TrustZone(
            trusted_accounts=_list("KMSGUARD_TRUSTED_ACCOUNTS"),
            trusted_orgs=_list("KMSGUARD_TRUSTED_ORGS") | ({org} if org else set()),
        ),
        owner_tag_keys=owner_keys,
        dynamodb_table=table,
        stdout=True,  # the function's log keeps every alert
        sns_topic_arn=os.environ.get("KMSGUARD_SNS_TOPIC_ARN", "").strip() or None,
        webhook_urls=(webhook,) if webhook else (),
        read_policies=os.environ.get("KMSGUARD_READ_POLICIES", "true").lower() != "false",
    )


def get_monitor() -> Monitor:
    global _monitor  # noqa: PLW0603  # one monitor per warm container
    if _monitor is None:
        import boto3

        session = boto3.Session()
        region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
        _monitor = build_monitor(settings_from_environment(), session, region=region)
    return _monitor


def reset() -> None:
    """Forget the cached monitor (tests change the environment between invocations)."""
    global _monitor  # noqa: PLW0603
    _monitor = None


def handler(event: Any, context: Any = None) -> dict[str, Any]:  # noqa: ARG001  # Lambda's signature
    monitor = get_monitor()
    outcome = monitor.handle(event if isinstance(event, dict) else str(event))
    result = {
        "status": str(outcome.status),
        "event_id": outcome.event_id,
        "alerts": [a.alert_id for a in outcome.alerts],
        "detail": outcome.detail,
    }
    if outcome.failed:
        raise UnreadableEventError(f"unreadable event: {outcome.detail}")
    log.info("handled %s", result)
    return result
