"""Text and CSV renderings of a `UsageReport` (JSON is `UsageReport.to_json`)."""

from __future__ import annotations

import csv
import io
from enum import StrEnum

from kmsguard.report.escape import csv_cell, terminal_lines
from kmsguard.usage.records import DENIAL_CODES
from kmsguard.usage.report import Caller, UsageReport


class UsageFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    CSV = "csv"


def _counts(pairs: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{a}={n}" for a, n in pairs)


def _caller_line(c: Caller) -> list[str]:
    flag = ""
    if c.evidence is not None:
        flag = "  [OUTSIDE ZONE: in use]" if c.actions else "  [OUTSIDE ZONE: probing]"
    acct = f" ({c.account})" if c.account else ""
    lines = [f"  {c.principal}{acct} [{c.principal_type}] {c.count} calls{flag}"]
    if c.actions:
        lines.append(f"      actions: {_counts(c.actions)}")
    if c.denied:
        lines.append(f"      denied:  {_counts(c.denied)}")
    failures = tuple((e, n) for e, n in c.errors if e not in DENIAL_CODES)
    if failures:
        lines.append(f"      failed:  {_counts(failures)}")
    if c.via_services:
        lines.append(f"      via:     {', '.join(c.via_services)}")
    if c.vpc_endpoints:
        lines.append(f"      vpce:    {', '.join(c.vpc_endpoints)}")
    if c.encryption_context:
        ctx = ", ".join(
            f"{k.key}={'|'.join(k.values) if k.values is not None else '(many)'}"
            for k in c.encryption_context
        )
        lines.append(f"      context: {ctx}")
    lines.append(f"      seen:    {c.first_seen} .. {c.last_seen}")
    return lines


def render_text(report: UsageReport) -> str:
    w = report.window
    lines = [
        f"window: {w.since or 'start'} .. {w.until or 'now'}"
        f" (events from {w.first_event or '-'} to {w.last_event or '-'})",
        f"read {report.files} files, {report.events_read} events, "
        f"{report.kms_events} KMS events; {len(report.keys)} "
        + ("key" if len(report.keys) == 1 else "keys"),
    ]
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} unreadable files")
    for k in report.keys:
        lines.append("")
        if k.unused:
            lines.append(f"{k.key_arn}: UNUSED in the window")
        else:
            outside = sum(1 for c in k.callers if c.outside_zone)
            extra = f", {outside} outside the zone of trust" if outside else ""
            lines.append(f"{k.key_arn}: {len(k.callers)} callers{extra}")
        for c in k.callers:
            lines.extend(_caller_line(c))
    return terminal_lines(lines) + "\n"


CSV_COLUMNS = (
    "key_arn", "principal", "principal_type", "account", "action", "count", "denied",
    "via_services", "vpc_endpoints", "first_seen", "last_seen", "outside_zone",
)


def render_csv(report: UsageReport) -> str:
    """One row per (key, caller, action); an unused key is one row with no caller."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for k in report.keys:
        if not k.callers:
            out.writerow([csv_cell(k.key_arn), *[""] * (len(CSV_COLUMNS) - 1)])
        for c in k.callers:
            ok, denied = dict(c.actions), dict(c.denied)
            for action in sorted(set(ok) | set(denied)):
                out.writerow([
                    csv_cell(v) if isinstance(v, str) else v
                    for v in (
                        k.key_arn, c.principal, str(c.principal_type), c.account or "", action,
                        ok.get(action, 0), denied.get(action, 0), " ".join(c.via_services),
                        " ".join(c.vpc_endpoints), c.first_seen, c.last_seen,
                        str(c.outside_zone).lower(),
                    )
                ])
    return buf.getvalue()


def render(report: UsageReport, fmt: UsageFormat) -> str:
    if fmt is UsageFormat.JSON:
        return report.to_json()
    if fmt is UsageFormat.CSV:
        return render_csv(report)
    return render_text(report)
