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
    from kmsguard.fix.apply import Applied
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
    from kmsguard.store import KeySnapshot, RunKind, observe_aws
    from kmsguard.store.observations import aws_scope_unit

    observations = [o for f in result.findings() if (o := observe_aws(f)) is not None]
    scopes = result.scopes or tuple(sorted({(k.account, k.region) for k in result.keys}))
    snapshots = [
        KeySnapshot(
            key_arn=k.arn,
            account=k.account,
            region=k.region,
            manager=k.manager or ("AWS" if k.skipped else None),
            state=k.state,
            verdict=str(k.verdict) if k.skipped is None else "skipped",
            severity=str(k.severity),
            owner_tag=k.owner_tag if k.skipped is None else None,
            aliases=k.aliases,
            tags=k.tags,
        )
        for k in result.keys
    ]
    store = history or open_history(db_url)
    record = store.record_run(
        RunKind.AWS,
        [aws_scope_unit(a, r) for a, r in scopes],
        observations,
        complete=not result.incomplete,
        started_at=started_at,
        snapshots=snapshots,
        summary={k: v for k, v in result.summary().items() if k != "api_calls"},
    )
    _say(record.describe())


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
    from kmsguard.store import RunKind, iac_scope, observe_iac

    observations = [o for f in findings if (o := observe_iac(f)) is not None]
    store = history or open_history(db_url)
    record = store.record_run(
        RunKind.IAC,
        iac_scope(paths),
        observations,
        complete=complete,
        started_at=started_at,
        fail_on=fail_on,
        summary={"findings": len(observations), "fail_on": str(fail_on)},
    )
    _say(record.describe())


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
