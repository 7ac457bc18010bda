"""Wiring a `Monitor` from settings (command-line options or the Lambda's environment):
the state backend, the sinks, the policy reader and the remediator."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from botocore.config import Config

from kmsguard.arn import parse_arn
from kmsguard.aws.session import SessionClients
from kmsguard.errors import InputError
from kmsguard.model import TrustZone

from .aws_reader import KmsKeyReader, RegionClients
from .handler import Monitor, MonitorConfig, Remediator
from .sinks import AlertSink, FanoutSink, SnsSink, StdoutSink, WebhookSink
from .state import MonitorState

CLIENT_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    zone: TrustZone = field(default_factory=TrustZone)
    owner_tag_keys: tuple[str, ...] = ("owner",)
    db_url: str | None = None  # SQL state (default: the history store's SQLite file)
    dynamodb_table: str | None = None  # or DynamoDB state
    state_region: str | None = None
    stdout: bool = True
    sns_topic_arn: str | None = None
    webhook_urls: tuple[str, ...] = ()
    webhook_timeout: float = 5.0
    read_policies: bool = True  # GetKeyPolicy when an event does not carry the policy
    remediate: bool = False
    backup_dir: Path | None = None
    record: bool = False  # also record exposed/resolved alerts in the findings history


def _topic_region(arn: str) -> str:
    parsed = parse_arn(arn)
    if parsed is None or parsed.service != "sns" or not parsed.region:
        raise InputError(f"`{arn}` is not an SNS topic ARN", hint="arn:aws:sns:REGION:ACCOUNT:NAME")
    return parsed.region


def build_sinks(
    settings: MonitorSettings, clients: RegionClients | None, stream: TextIO | None = None
) -> AlertSink:
    sinks: list[AlertSink] = []
    if settings.stdout:
        sinks.append(StdoutSink(stream))
    if settings.sns_topic_arn:
        region = _topic_region(settings.sns_topic_arn)
        if clients is None:
            raise InputError("an SNS sink needs AWS access")
        sinks.append(SnsSink(clients.client("sns", region), settings.sns_topic_arn))
    sinks.extend(
        WebhookSink(url, timeout=settings.webhook_timeout) for url in settings.webhook_urls
    )
    if settings.record:
        from kmsguard.store import History, open_database

        from .history_sink import HistorySink

        sinks.append(HistorySink(History(open_database(settings.db_url))))
    return FanoutSink(sinks)


def build_state(
    settings: MonitorSettings, clients: RegionClients | None, region: str
) -> MonitorState:
    if settings.dynamodb_table:
        if clients is None:
            raise InputError("a DynamoDB state table needs AWS access")
        from .state_dynamodb import DynamoDbMonitorState

        return DynamoDbMonitorState(
            clients.client("dynamodb", settings.state_region or region), settings.dynamodb_table
        )
    from .state_sql import SqlMonitorState

    return SqlMonitorState(open_store(settings.db_url))


def open_store(url: str | None) -> Any:
    """The history store's engine. Consumers started together race to create its tables
    (one sees "table already exists"): try again briefly before giving up."""
    from kmsguard.store import StoreError, open_database

    for attempt in range(5):
        try:
            return open_database(url)
        except StoreError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def build_monitor(
    settings: MonitorSettings,
    session: Any | None,
    *,
    region: str = "us-east-1",
    stream: TextIO | None = None,
    state: MonitorState | None = None,
) -> Monitor:
    """`session` None: no AWS access (replay judges what the events carry)."""
    clients = RegionClients(SessionClients(session, CLIENT_CONFIG)) if session is not None else None
    remediator: Remediator | None = None
    if settings.remediate:
        if clients is None:
            raise InputError("--remediate needs AWS access")
        from kmsguard.fix.backup import default_backup_dir
        from kmsguard.store import PolicyVersionStore

        from .remediate import PolicyRestorer

        remediator = PolicyRestorer(
            clients.kms,
            PolicyVersionStore(open_store(settings.db_url)),
            zone=settings.zone,
            backup_dir=settings.backup_dir or default_backup_dir(),
        )
    return Monitor(
        state if state is not None else build_state(settings, clients, region),
        build_sinks(settings, clients, stream),
        config=MonitorConfig(zone=settings.zone, owner_tag_keys=settings.owner_tag_keys),
        reader=KmsKeyReader(clients) if clients is not None and settings.read_policies else None,
        remediator=remediator,
    )
