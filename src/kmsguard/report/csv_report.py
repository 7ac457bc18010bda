"""CSV report of a live scan: one row per key (skipped keys included) and one per account
or region that could not be read, for spreadsheets."""

from __future__ import annotations

import csv
import io

from kmsguard.aws.result import KeyResult, ScanResult
from kmsguard.report.escape import csv_cell

COLUMNS = (
    "account",
    "region",
    "arn",
    "aliases",
    "state",
    "status",
    "verdict",
    "severity",
    "exposed_actions",
    "outside_principals",
    "statements",
    "external_grants",
    "grants_total",
    "owner_tag",
    "errors",
    "skipped_reason",
)


def _row(key: KeyResult) -> dict[str, str]:
    a = key.assessment
    exposures = a.exposures if a is not None else ()
    actions = sorted({x for e in exposures for x in e.actions})
    actions.extend(
        f"grant:{op}" for op in sorted({op for g in key.grant_findings for op in g.operations})
    )
    principals = sorted({p for e in exposures for p in e.principals})
    principals.extend(g.grantee_principal for g in key.grant_findings)
    skipped = key.skipped is not None
    return {
        "account": key.account,
        "region": key.region,
        "arn": key.arn,
        "aliases": " ".join(key.aliases),
        "state": key.state or "",
        "status": str(key.status),
        "verdict": "" if skipped else str(key.verdict),
        "severity": "" if skipped else str(key.severity),
        "exposed_actions": " ".join(actions),
        "outside_principals": " ".join(dict.fromkeys(principals)),
        "statements": " ".join(sorted({s for e in exposures for s in e.statements})),
        "external_grants": " ".join(g.grant_id for g in key.grant_findings),
        "grants_total": "" if skipped else str(key.grants_total),
        "owner_tag": "" if key.owner_tag is None else str(key.owner_tag).lower(),
        "errors": " | ".join(e.describe() for e in key.errors),
        "skipped_reason": key.skipped or "",
    }


def render_csv(result: ScanResult) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for key in result.keys:
        writer.writerow({k: csv_cell(v) for k, v in _row(key).items()})
    for failure in result.failures:  # an unreadable account or region is a row, not a gap
        row = dict.fromkeys(COLUMNS, "") | {
            "account": failure.account,
            "region": failure.region or "",
            "status": "region-failed" if failure.region else "account-failed",
            "errors": failure.error.describe(),
        }
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return buf.getvalue()
