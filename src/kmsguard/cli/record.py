"""`--record`: what `scan aws`, `scan iac` and `fix apply/rollback` write to the history
store (see `kmsguard.store.history` for the lifecycle rules)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from kmsguard.aws.result import ScanResult
    from kmsguard.fix.outcome import Applied
    from kmsguard.model import Finding, Severity
    from kmsguard.store import History

F = TypeVar("F", bound=Callable[..., Any])


def record_options(f: F, *, db: bool = True) -> F:
    """--record (and --db URL)."""
    f = click.option(
        "--record",
        is_flag=True,
        help="Record this run in the history store (findings, their lifecycle, KPIs).",
    )(f)
    if db:
        f = click.option(
            "--db",
            "db_url",
            metavar="URL",
            help="History database: a SQLAlchemy URL (default: $KMSGUARD_DB, else SQLite "
            "in the user data folder).",
        )(f)
    return f


def open_history(db_url: str | None) -> History:
    from kmsguard.store import History, open_database

    return History(open_database(db_url))


def _say(text: str) -> None:
    click.echo(f"history: {text}", err=True)


def record_aws_scan(
    result: ScanResult, db_url: str | None, *, started_at: datetime, history: History | None = None
) -> None:
    from kmsguard.store.recording import record_aws_scan as record

    _say(record(result, history or open_history(db_url), started_at=started_at).describe())


def record_iac_scan(
    findings: Sequence[Finding],
    paths: Sequence[Path],
    db_url: str | None,
    *,
    fail_on: Severity,
    complete: bool,
    started_at: datetime,
    history: History | None = None,
) -> None:
    from kmsguard.store.recording import record_iac_scan as record

    store = history or open_history(db_url)
    _say(
        record(
            findings, paths, store, fail_on=fail_on, complete=complete, started_at=started_at
        ).describe()
    )


def record_fix(result: Applied, db_url: str | None) -> None:
    """An applied fix or rollback: the key's key-policy findings follow its new policy."""
    event = f"fix-{result.operation}:{result.written.id}"
    if result.assessment_after is None:
        _say(f"not recorded: the policy read back after {event} could not be judged")
        return
    store = open_history(db_url)
    record = store.record_policy_state(result.key_arn, result.assessment_after, event=event)
    _say(
        f"recorded {event}: {len(record.resolved)} finding(s) resolved, "
        f"{len(record.opened)} opened"
    )
