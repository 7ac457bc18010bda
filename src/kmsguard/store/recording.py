"""What a scan writes to the history: the observations, key snapshots and summary of a
`scan aws` or `scan iac` run (see `kmsguard.store.history` for the lifecycle rules)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .history import History, RunRecord, iac_scope
from .models import RunKind
from .observations import KeySnapshot, aws_scope_unit, observe_aws, observe_iac

if TYPE_CHECKING:
    from kmsguard.aws.result import ScanResult
    from kmsguard.model import Finding, Severity


def record_aws_scan(result: ScanResult, history: History, *, started_at: datetime) -> RunRecord:
    """A live scan: its findings, every key it saw (AWS managed ones as skipped) and the
    (account, region) scopes it covered."""
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
    return history.record_run(
        RunKind.AWS,
        [aws_scope_unit(a, r) for a, r in scopes],
        observations,
        complete=not result.incomplete,
        started_at=started_at,
        snapshots=snapshots,
        summary={k: v for k, v in result.summary().items() if k != "api_calls"},
    )


def record_iac_scan(
    findings: Sequence[Finding],
    paths: Sequence[Path],
    history: History,
    *,
    fail_on: Severity,
    complete: bool,
    started_at: datetime,
) -> RunRecord:
    """An IaC scan of `paths`: findings at or above `fail_on` count as blocked."""
    observations = [o for f in findings if (o := observe_iac(f)) is not None]
    return history.record_run(
        RunKind.IAC,
        iac_scope(paths),
        observations,
        complete=complete,
        started_at=started_at,
        fail_on=fail_on,
        summary={"findings": len(observations), "fail_on": str(fail_on)},
    )
