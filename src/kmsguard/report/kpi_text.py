"""`kmsguard report --format text`: the four KPIs and the open findings, for a terminal.
Works on the report's JSON (`kmsguard.store.kpis.kpis_json`)."""

from __future__ import annotations

from typing import Any


def hours(value: float | None) -> str:
    """`3.5 h`, `2.1 d`; `-` when there is nothing to measure."""
    if value is None:
        return "-"
    if value >= 48:
        return f"{value / 24:.1f} d"
    if value >= 1:
        return f"{value:.1f} h"
    return f"{value * 60:.0f} min"


def share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def render_kpis_text(report: dict[str, Any]) -> str:
    k = report["kpis"]
    pub, mttr = k["public_keys"], k["mttr_critical_hours"]
    owner, blocked = k["owner_tag_share"], k["blocked_before_deployment"]
    since = f" since {report['since']}" if report.get("since") else ""
    lines = [
        f"kmsguard report{since} (generated {report['generated_at']}, "
        f"{report['runs']} recorded scans)",
        "",
        f"  keys with a public policy          {pub['now']:>6}   "
        f"(cross-account: {pub['cross_account_now']})",
        f"  time to remediate critical         {hours(mttr['mean']):>6}   "
        f"mean; median {hours(mttr['median'])}, p90 {hours(mttr['p90'])} "
        f"over {mttr['resolved']} resolved; {mttr['open_critical']} still open",
        f"  customer managed keys with owner   {share(owner['share']):>6}   "
        f"({owner['with_owner']} of {owner['customer_keys']})",
        f"  blocked before deployment          {blocked['misconfigurations']:>6}   "
        f"misconfigurations ({blocked['gate_failures']} gate failures)",
    ]
    trend = pub["trend"]
    if len(trend) > 1:
        series = " -> ".join(str(p["public"]) for p in trend[-8:])
        lines.append(f"  public keys over time: {series}")
    findings = report["open_findings"]
    lines += ["", f"open findings: {len(findings)}"]
    for f in findings:
        where = f["source"] if f["line"] is None else f"{f['source']}:{f['line']}"
        name = f" ({f['resource']})" if f["resource"] else ""
        lines.append(
            f"  [{f['severity']}] {f['rule_id']} {where}{name}  since {f['first_seen']}"
        )
        if f["witness"]:
            lines.append(f"      witness: {f['witness']}")
    unowned = report["keys_without_owner"]
    if unowned:
        total = sum(len(v) for v in unowned.values())
        lines += ["", f"customer managed keys without an owner tag: {total}"]
        for account, keys in unowned.items():
            lines.append(f"  account {account}: {len(keys)}")
            lines.extend(f"    {key['arn']}" for key in keys)
    return "\n".join(lines)
