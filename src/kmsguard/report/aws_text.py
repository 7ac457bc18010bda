"""Plain-text report of a live scan: keys with findings grouped by account and region,
failures, then the summary line a reader needs (verdict counts, owner-tag share)."""

from __future__ import annotations

from itertools import groupby

from kmsguard import rules
from kmsguard.aws.result import KeyResult, ScanResult
from kmsguard.model import Finding
from kmsguard.report.escape import terminal_lines

_MAX_ACTIONS = 6


def _actions(actions: tuple[str, ...]) -> str:
    """The first few actions; the JSON report has them all."""
    if len(actions) <= _MAX_ACTIONS:
        return ", ".join(actions)
    shown = ", ".join(actions[:_MAX_ACTIONS])
    return f"{shown} and {len(actions) - _MAX_ACTIONS} more"


def _finding_lines(finding: Finding) -> list[str]:
    rule_id = finding.rule_id or rules.UNREADABLE
    a = finding.assessment
    if rule_id == rules.MISSING_OWNER_TAG:
        return [f"    {rule_id} no owner tag"]
    if rule_id == rules.EXTERNAL_GRANT:
        extra = dict(finding.extra)
        actions = _actions(a.exposed_actions)
        return [f"    {rule_id} grant {extra.get('grant_id')} to {extra.get('grantee')}: {actions}"]
    if rule_id == rules.UNREADABLE:
        return [f"    {rule_id} {e}" for e in a.errors]
    lines = []
    for e in a.exposures:
        stmts = f" (statements {', '.join(e.statements)})" if e.statements else ""
        network = f" [only from {', '.join(e.network_conditions)}]" if e.network_restricted else ""
        lines.append(
            f"    {rule_id} {', '.join(e.principals)} can be allowed "
            f"{_actions(e.actions)}{stmts}{network}"
        )
        if e.witness is not None:
            lines.append(f"      witness: {e.witness.describe()}")
    return lines or [f"    {rule_id} {a.verdict}"]


def _key_lines(key: KeyResult) -> list[str]:
    findings = key.findings()
    if not findings:
        return []
    head = f"  {key.verdict}"
    if key.severity.rank > 0:
        head += f" ({key.severity})"
    if key.state and key.state != "Enabled":
        head += f" [{key.state}]"
    if key.aliases:
        head += f"  {' '.join(key.aliases)}"
    lines = [f"{head}  {key.arn}"]
    for f in findings:
        lines.extend(_finding_lines(f))
    return lines


def render_text(result: ScanResult) -> str:
    s = result.summary()
    out = [
        f"kmsguard scan aws: {s['accounts']} account(s), {s['regions']} region(s), "
        f"{s['keys_scanned']} key(s) judged, {s['keys_skipped']} skipped (AWS managed), "
        f"{s['keys_errored']} with errors — {s['api_calls_total']} API calls "
        f"in {s['elapsed_seconds']} s",
    ]
    judged = result.judged
    for (account, region), group in groupby(judged, key=lambda k: (k.account, k.region)):
        lines = [line for key in group for line in _key_lines(key)]
        if lines:
            out.append("")
            out.append(f"{account} {region}")
            out.extend(lines)
    if result.failures:
        out.append("")
        out.append("not scanned:")
        out.extend(f"  {f.describe()}" for f in result.failures)
    verdicts = s["verdicts"]
    assert isinstance(verdicts, dict)
    out.append("")
    out.append("verdicts: " + ", ".join(f"{v} {n}" for v, n in verdicts.items()))
    share = s["owner_tag_share"]
    if isinstance(share, float):
        tagged = sum(1 for k in judged if k.owner_tag is not None)
        out.append(f"owner tag: {s['keys_with_owner_tag']} of {tagged} key(s) ({share:.0%})")
    if result.incomplete:
        out.append(
            f"incomplete: {s['keys_errored']} key(s) and {s['failed_scopes']} "
            "account/region scope(s) could not be read"
        )
    return terminal_lines(out) + "\n"
