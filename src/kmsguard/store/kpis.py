"""The four KPIs of the governance playbook, computed from the history:

1. keys with a public (and with a cross-account) key policy, now and over time;
2. time to remediate critical key-policy misconfigurations (first seen -> resolved):
   mean, median and p90 (nearest rank), in hours;
3. the share of customer managed keys with an owner tag, now and over time;
4. key-policy misconfigurations blocked before deployment (distinct IaC findings that
   failed a `scan iac --fail-on` gate), and how many gate failures that took.

Arithmetic only: the rows come from `History`; times are UTC.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kmsguard import rules
from kmsguard.model import Severity

from .history import History, covers
from .models import (
    BlockedFindingRow,
    FindingRow,
    FindingStatus,
    RunKind,
    ScanRunRow,
    SnapshotView,
    as_utc,
)
from .observations import POLICY_RULES, aws_scope_unit

_SEVERITY_ORDER = {s.value: s.rank for s in Severity}


@dataclass(frozen=True, slots=True)
class ExposurePoint:
    at: datetime
    public: int
    cross_account: int


@dataclass(frozen=True, slots=True)
class SharePoint:
    at: datetime
    with_owner: int
    customer_keys: int

    @property
    def share(self) -> float | None:
        return round(self.with_owner / self.customer_keys, 4) if self.customer_keys else None


@dataclass(frozen=True, slots=True)
class Mttr:
    count: int
    mean_hours: float | None
    median_hours: float | None
    p90_hours: float | None
    open_critical: int


@dataclass(frozen=True, slots=True)
class Blocked:
    misconfigurations: int  # distinct IaC findings
    gate_failures: int  # blocked rows (a finding blocked in 3 CI runs counts 3)
    trend: tuple[tuple[datetime, int], ...] = ()  # cumulative distinct, per block


@dataclass(frozen=True, slots=True)
class Kpis:
    generated_at: datetime
    since: datetime | None
    public_now: int
    cross_account_now: int
    exposure_trend: tuple[ExposurePoint, ...]
    mttr: Mttr
    owner_now: SharePoint | None
    owner_trend: tuple[SharePoint, ...]
    blocked: Blocked
    open_findings: tuple[FindingRow, ...]
    unowned_keys: dict[str, list[SnapshotView]] = field(default_factory=dict)
    runs: int = 0


def percentile_nearest_rank(values: Sequence[float], p: float) -> float:
    """The smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def mttr_of(findings: Iterable[FindingRow], since: datetime | None = None) -> Mttr:
    """Critical key-policy findings of live keys: those resolved (at or after `since`)
    give the intervals; those still open are counted."""
    hours: list[float] = []
    open_critical = 0
    for f in findings:
        if f.kind != RunKind.AWS.value or f.rule_id not in POLICY_RULES:
            continue
        if f.severity != Severity.CRITICAL.value:
            continue
        if f.resolved_at is None:
            open_critical += 1
            continue
        resolved = as_utc(f.resolved_at)
        if since is not None and resolved < since:
            continue
        hours.append((resolved - as_utc(f.first_seen)).total_seconds() / 3600)
    if not hours:
        return Mttr(0, None, None, None, open_critical)
    return Mttr(
        count=len(hours),
        mean_hours=round(statistics.fmean(hours), 4),
        median_hours=round(statistics.median(hours), 4),
        p90_hours=round(percentile_nearest_rank(hours, 90), 4),
        open_critical=open_critical,
    )


def _exposed_keys(findings: Sequence[FindingRow], rule_id: str, at: datetime | None) -> int:
    keys = set()
    for f in findings:
        if f.kind != RunKind.AWS.value or f.rule_id != rule_id:
            continue
        if at is None:
            if f.status == FindingStatus.OPEN.value:
                keys.add(f.subject)
            continue
        if as_utc(f.first_seen) <= at and (f.resolved_at is None or as_utc(f.resolved_at) > at):
            keys.add(f.subject)
    return len(keys)


def exposure_trend(
    findings: Sequence[FindingRow], runs: Sequence[ScanRunRow], since: datetime | None
) -> tuple[ExposurePoint, ...]:
    """Keys with an open public / cross-account policy finding at every moment that
    changed it (a finding opened or resolved) or measured it (an aws scan). One sweep over
    the sorted opens and resolutions: a finding counts at t when first seen <= t < resolved."""
    times = {as_utc(r.finished_at) for r in runs if r.kind == RunKind.AWS.value}
    changes: list[tuple[datetime, int, str, str]] = []  # (when, +1/-1, rule, key)
    for f in findings:
        if f.kind != RunKind.AWS.value or f.rule_id not in _TREND_RULES:
            continue
        changes.append((as_utc(f.first_seen), 1, f.rule_id, f.subject))
        times.add(as_utc(f.first_seen))
        if f.resolved_at is not None:
            changes.append((as_utc(f.resolved_at), -1, f.rule_id, f.subject))
            times.add(as_utc(f.resolved_at))
    changes.sort(key=lambda c: c[0])
    open_per_key: dict[str, dict[str, int]] = {rule: defaultdict(int) for rule in _TREND_RULES}
    exposed = dict.fromkeys(_TREND_RULES, 0)
    points = []
    i = 0
    for t in sorted(times):
        while i < len(changes) and changes[i][0] <= t:
            _, delta, rule, key = changes[i]
            before = open_per_key[rule][key]
            open_per_key[rule][key] = before + delta
            exposed[rule] += (before == 0 and delta > 0) - (before + delta == 0 and delta < 0)
            i += 1
        if since is None or t >= since:
            points.append(ExposurePoint(t, exposed[rules.PUBLIC_POLICY],
                                        exposed[rules.CROSS_ACCOUNT_POLICY]))
    return tuple(points)


_TREND_RULES = (rules.PUBLIC_POLICY, rules.CROSS_ACCOUNT_POLICY)


def inventory_timeline(
    runs: Sequence[ScanRunRow], snapshots: Sequence[SnapshotView]
) -> list[tuple[ScanRunRow, dict[str, SnapshotView]]]:
    """The known keys after each aws run: a complete run replaces what it covered (a key
    it did not see is gone); an incomplete one only adds and updates."""
    by_run: dict[int, list[SnapshotView]] = defaultdict(list)
    for s in snapshots:
        by_run[s.run_id].append(s)
    state: dict[str, SnapshotView] = {}
    out = []
    for run in runs:
        if run.kind != RunKind.AWS.value:
            continue
        seen = by_run.get(run.id, [])
        if run.complete:
            scope = json.loads(run.scope)
            for arn in [a for a, s in state.items()
                        if covers(RunKind.AWS, scope, aws_scope_unit(s.account, s.region))]:
                del state[arn]
        for s in seen:
            state[s.key_arn] = s
        out.append((run, dict(state)))
    return out


def owner_share(keys: Iterable[SnapshotView], at: datetime) -> SharePoint:
    customer = [k for k in keys if k.manager != "AWS" and k.owner_tag is not None]
    return SharePoint(at, sum(1 for k in customer if k.owner_tag), len(customer))


def compute(history: History, *, now: datetime, since: datetime | None = None) -> Kpis:
    runs = history.runs()
    findings = history.findings()
    timeline = inventory_timeline(runs, history.snapshots())
    owner_trend = tuple(
        owner_share(state.values(), as_utc(run.finished_at))
        for run, state in timeline
        if since is None or as_utc(run.finished_at) >= since
    )
    current = timeline[-1][1] if timeline else {}
    unowned: dict[str, list[SnapshotView]] = defaultdict(list)
    for key in sorted(current.values(), key=lambda k: (k.account, k.region, k.key_arn)):
        if key.manager != "AWS" and key.owner_tag is False:
            unowned[key.account].append(key)
    open_rows = sorted(
        (f for f in findings if f.status == FindingStatus.OPEN.value),
        key=lambda f: (-_SEVERITY_ORDER.get(f.severity, 0), as_utc(f.first_seen), f.id),
    )
    return Kpis(
        generated_at=now,
        since=since,
        public_now=_exposed_keys(findings, rules.PUBLIC_POLICY, None),
        cross_account_now=_exposed_keys(findings, rules.CROSS_ACCOUNT_POLICY, None),
        exposure_trend=exposure_trend(findings, runs, since),
        mttr=mttr_of(findings, since),
        owner_now=owner_share(current.values(), now) if timeline else None,
        owner_trend=owner_trend,
        blocked=blocked_of(history.blocked(), since),
        open_findings=tuple(open_rows),
        unowned_keys=dict(unowned),
        runs=len(runs),
    )


def blocked_of(rows: Iterable[BlockedFindingRow], since: datetime | None) -> Blocked:
    distinct: set[str] = set()
    trend = []
    failures = 0
    for row in sorted(rows, key=lambda r: (as_utc(r.blocked_at), r.id)):
        if since is not None and as_utc(row.blocked_at) < since:
            continue
        failures += 1
        distinct.add(row.fingerprint)
        trend.append((as_utc(row.blocked_at), len(distinct)))
    return Blocked(len(distinct), failures, tuple(trend))


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value is not None else None


def _finding_json(f: FindingRow) -> dict[str, object]:
    return {
        "id": f.id,
        "kind": f.kind,
        "severity": f.severity,
        "rule_id": f.rule_id,
        "title": f.title,
        "verdict": f.verdict,
        "source": f.display_source,
        "line": f.line,
        "resource": f.resource,
        "account": f.account,
        "region": f.region,
        "statements": f.statements,
        "actions": f.actions,
        "principals": f.principals,
        "witness": f.witness,
        "remediation": f.remediation,
        "first_seen": _iso(f.first_seen),
        "last_seen": _iso(f.last_seen),
        "opened_by": f"run {f.opened_by_run}" if f.opened_by_run else f.opened_by_event,
    }


def kpis_json(k: Kpis) -> dict[str, object]:
    """The report's JSON (`kmsguard report --format json`); the dashboard embeds it."""
    owner = k.owner_now
    return {
        "generated_at": _iso(k.generated_at),
        "since": _iso(k.since),
        "runs": k.runs,
        "kpis": {
            "public_keys": {
                "now": k.public_now,
                "cross_account_now": k.cross_account_now,
                "trend": [
                    {"at": _iso(p.at), "public": p.public, "cross_account": p.cross_account}
                    for p in k.exposure_trend
                ],
            },
            "mttr_critical_hours": {
                "resolved": k.mttr.count,
                "mean": k.mttr.mean_hours,
                "median": k.mttr.median_hours,
                "p90": k.mttr.p90_hours,
                "open_critical": k.mttr.open_critical,
            },
            "owner_tag_share": {
                "share": owner.share if owner else None,
                "with_owner": owner.with_owner if owner else 0,
                "customer_keys": owner.customer_keys if owner else 0,
                "trend": [
                    {"at": _iso(p.at), "share": p.share, "with_owner": p.with_owner,
                     "customer_keys": p.customer_keys}
                    for p in k.owner_trend
                ],
            },
            "blocked_before_deployment": {
                "misconfigurations": k.blocked.misconfigurations,
                "gate_failures": k.blocked.gate_failures,
                "trend": [{"at": _iso(t), "total": n} for t, n in k.blocked.trend],
            },
        },
        "open_findings": [_finding_json(f) for f in k.open_findings],
        "keys_without_owner": {
            account: [
                {
                    "arn": key.key_arn,
                    "region": key.region,
                    "state": key.state,
                    "aliases": json.loads(key.aliases),
                    "tags": json.loads(key.tags),
                }
                for key in keys
            ]
            for account, keys in k.unowned_keys.items()
        },
    }


def kpi_report(db_url: str | None, since: datetime | None) -> dict[str, object]:
    """The KPIs of the history database at `db_url` (None: the default), as JSON, now."""
    from .database import open_database

    history = History(open_database(db_url))
    try:
        return kpis_json(compute(history, now=datetime.now(UTC), since=since))
    finally:
        history.engine.dispose()
