"""`kmsguard monitor sqs|replay`: alert when a KMS key becomes exposed, is fixed, gains an
outside grant or loses its owner tag (see docs/monitor.md)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from kmsguard.errors import ExitCode, InputError
from kmsguard.model import ZoneSpec

from .common import _org, aws_session, echo_error, echo_warning, trusted_options
from .configured import ConfiguredCommand, config_option

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def monitor() -> None:
    """Alert within seconds when a key becomes exposed, fixed, or loses its owner.

    \b
    kmsguard monitor sqs --queue-url URL   consume EventBridge -> SQS events
    kmsguard monitor replay FILE|DIR...    run saved events through the same handler
    The AWS Lambda handler is kmsguard.monitor.lambda_handler.handler (deploy/monitor.yaml).

    \b
    Examples:
      kmsguard monitor sqs --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/kms-events
      kmsguard monitor replay events/ --org-id o-abcdefghij
    """


def _common_options(f: F) -> F:
    decorators = [
        click.option(
            "--org-id",
            callback=_org,
            help="The owners' organization id: its accounts are trusted.",
        ),
        trusted_options(from_env=False),
        click.option(
            "--owner-tag-key",
            "owner_tag_keys",
            multiple=True,
            default=("owner",),
            show_default=True,
            help="Tag key that names a key's owner (repeatable).",
        ),
        click.option(
            "--db",
            "db_url",
            metavar="URL",
            help="State database (default: the history store, SQLite in the user data folder).",
        ),
        click.option(
            "--dynamodb-table",
            metavar="NAME",
            help="Keep the state in this DynamoDB table instead (as the Lambda does).",
        ),
        click.option("--sns-topic-arn", metavar="ARN", help="Also publish alerts to this topic."),
        click.option(
            "--webhook-url",
            "webhook_urls",
            multiple=True,
            metavar="URL",
            help="Also POST alerts to this Slack-compatible incoming webhook (repeatable).",
        ),
        click.option(
            "--webhook-timeout",
            type=click.FloatRange(0.1, 60),
            default=5.0,
            show_default=True,
            help="Seconds per webhook attempt.",
        ),
        click.option("--no-stdout", is_flag=True, help="Do not print alerts (JSON lines)."),
        click.option(
            "--record",
            is_flag=True,
            help="Also record exposed/resolved alerts in the findings history (the --db "
            "database), for `kmsguard report`.",
        ),
        click.option(
            "--remediate",
            is_flag=True,
            help="Restore the last policy judged private when a key becomes exposed "
            "(verified first; the replaced policy is saved). Off by default.",
        ),
        click.option(
            "--backup-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="With --remediate: folder for backups of replaced policies.",
        ),
        click.option("--profile", help="AWS profile to use."),
        click.option("--region", help="Region of the queue, topic and table (default: profile)."),
        click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warning", "error"]),
            default="warning",
            show_default=True,
            help="Log (to standard error) from this level.",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return config_option(f)


def _settings(opts: dict[str, Any], *, read_policies: bool) -> Any:
    from kmsguard.monitor.build import MonitorSettings
    from kmsguard.monitor.sinks import check_webhook_url

    for url in opts["webhook_urls"]:
        check_webhook_url(url)
    zone = ZoneSpec(
        None,
        opts["org_id"],
        opts["trusted_accounts"],
        opts["trusted_orgs"],
        opts["trusted_ou_paths"],
    ).zone()
    return MonitorSettings(
        zone=zone,
        owner_tag_keys=tuple(opts["owner_tag_keys"]),
        db_url=opts["db_url"],
        dynamodb_table=opts["dynamodb_table"],
        state_region=opts["region"],
        stdout=not opts["no_stdout"],
        sns_topic_arn=opts["sns_topic_arn"],
        webhook_urls=tuple(opts["webhook_urls"]),
        webhook_timeout=opts["webhook_timeout"],
        read_policies=read_policies,
        remediate=opts["remediate"],
        backup_dir=opts["backup_dir"],
        record=opts["record"],
    )


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _region(session: Any, region: str | None) -> str:
    return region or session.region_name or "us-east-1"


@monitor.command(cls=ConfiguredCommand, section="monitor")
@click.option("--queue-url", required=True, metavar="URL", help="The SQS queue to consume.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10),
    default=10,
    show_default=True,
    help="Messages per receive.",
)
@click.option(
    "--wait-seconds",
    type=click.IntRange(0, 20),
    default=20,
    show_default=True,
    help="Long-poll wait per receive (also the longest a stop request waits).",
)
@click.option(
    "--stop-when-empty",
    is_flag=True,
    help="Exit after a receive that returns nothing (back-filling; default: run until SIGTERM).",
)
@click.option(
    "--no-read-policies",
    is_flag=True,
    help="Do not call GetKeyPolicy for events that do not carry the policy.",
)
@_common_options
def sqs(
    queue_url: str,
    batch_size: int,
    wait_seconds: int,
    stop_when_empty: bool,
    no_read_policies: bool,
    **opts: Any,
) -> int:
    """Consume EventBridge -> SQS events until SIGTERM (or SIGINT).

    A message is deleted only once it is handled; failures are left for redelivery and,
    after the queue's maxReceiveCount, its dead-letter queue.

    \b
    Examples:
      kmsguard monitor sqs --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/kms-events
      kmsguard monitor sqs --queue-url URL --sns-topic-arn arn:aws:sns:eu-west-1:123456789012:alerts
      kmsguard monitor sqs --queue-url URL --stop-when-empty --record
    """
    from kmsguard.monitor.build import build_monitor
    from kmsguard.monitor.sqs import QueueConsumer

    _logging(opts["log_level"])
    settings = _settings(opts, read_policies=not no_read_policies)
    session = aws_session(opts["profile"])
    region = opts["region"] or _queue_region(queue_url) or _region(session, None)
    mon = build_monitor(settings, session, region=region)
    client = session.client("sqs", region_name=region)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("kmsguard.monitor").warning(
            "%s: finishing the message in hand, then stopping", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    consumer = QueueConsumer(
        mon, client, queue_url, batch_size=batch_size, wait_seconds=wait_seconds, stop=stop
    )
    stats = consumer.run(max_empty_polls=1 if stop_when_empty else None)
    click.echo("monitor sqs: " + json.dumps(stats.to_json(), sort_keys=True), err=True)
    return int(ExitCode.OK)


def _queue_region(url: str) -> str | None:
    # https://sqs.eu-west-1.amazonaws.com/123456789012/name
    host = url.split("://", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    return parts[1] if len(parts) > 3 and parts[0] == "sqs" else None


@monitor.command(cls=ConfiguredCommand, section="monitor")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--read-policies",
    is_flag=True,
    help="Call GetKeyPolicy for events that do not carry the policy (default: judge only "
    "what the events carry; no AWS access).",
)
@_common_options
def replay(paths: tuple[Path, ...], read_policies: bool, **opts: Any) -> int:
    """Run saved events through the monitor: files in file-name order, records in order.

    FILE may be a JSON event (bare CloudTrail record or EventBridge envelope), a JSON array,
    a CloudTrail log file ({"Records": [...]}, gzip or not), or JSON lines (.jsonl). Exit 2
    if some input could not be read (each is named on standard error).

    \b
    Examples:
      kmsguard monitor replay events/
      kmsguard monitor replay events.jsonl --org-id o-abcdefghij --record
    """
    from kmsguard.monitor.build import build_monitor
    from kmsguard.monitor.handler import RetryLaterError
    from kmsguard.monitor.replay import replay_files, replay_items
    from kmsguard.monitor.sinks import SinkError

    _logging(opts["log_level"])
    settings = _settings(opts, read_policies=read_policies)
    aws = read_policies or settings.remediate or settings.sns_topic_arn or settings.dynamodb_table
    session = aws_session(opts["profile"]) if aws else None
    region = _region(session, opts["region"]) if session is not None else "us-east-1"
    mon = build_monitor(settings, session, region=region)
    files = replay_files(list(paths))
    if not files:
        raise InputError(
            "no event files under " + ", ".join(f"`{p}`" for p in paths),
            hint="event files end in .json, .jsonl, .ndjson or .json.gz",
        )
    bad = 0
    counts: dict[str, int] = {}
    for path in files:
        for item in replay_items(path):
            if item.raw is None:
                bad += 1
                echo_error(f"`{item.where}`: {item.error}")
                continue
            try:
                outcome = mon.handle(item.raw)
            except (RetryLaterError, SinkError) as exc:
                bad += 1
                echo_error(f"`{item.where}`: {exc.message}")
                continue
            counts[str(outcome.status)] = counts.get(str(outcome.status), 0) + 1
            if outcome.failed:
                bad += 1
                echo_warning(f"`{item.where}`: {outcome.detail}")
    click.echo("monitor replay: " + json.dumps(counts, sort_keys=True), err=True)
    return int(ExitCode.USAGE if bad else ExitCode.OK)
