"""Plain text of an IaC scan: one block per judged resource (location, verdict, rule,
exposures with witnesses, errors, notes, the fix), then a summary line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kmsguard import rules
from kmsguard.model import Finding, Severity, Verdict
from kmsguard.report.escape import terminal_lines


def render_text(
    findings: Sequence[Finding],
    files_scanned: int,
    notes: Sequence[str] = (),
    *,
    quiet: bool = False,
) -> str:
    """`quiet`: only active findings (not private, not suppressed), no notes, no summary."""
    lines: list[str] = []
    if quiet:
        findings = [f for f in findings if f.rule_id is not None and f.suppressed is None]
    for f in sorted(findings, key=lambda f: (f.origin.source, f.origin.line or 0)):
        a = f.assessment
        loc = f.origin.source if f.origin.line is None else f"{f.origin.source}:{f.origin.line}"
        head = f"{loc}  {f.origin.resource or '-'}  {a.verdict}"
        if a.severity is not Severity.NONE:
            head += f" {a.severity}"
        if f.rule_id:
            head += f"  {f.rule_id}"
        if f.suppressed is not None:
            head += f"  [suppressed: {f.suppressed}]"
        lines.append(head)
        for e in a.exposures:
            text = f"    {', '.join(e.principals)} can be allowed {', '.join(e.actions)}"
            if e.statements:
                text += f" (statement {', '.join(e.statements)})"
            lines.append(text)
            if e.witness is not None:
                lines.append(f"    witness: {e.witness.describe()}")
        lines.extend(f"    error: {err}" for err in a.errors)
        lines.extend(f"    note: {n}" for n in a.notes)
        lines.extend(f"    {k.replace('_', ' ')}: {v}" for k, v in f.extra)
        if f.rule_id and f.suppressed is None and a.verdict is not Verdict.ERROR:
            lines.append(f"    fix: {rules.rule(f.rule_id).remediation}")
    if quiet:
        return terminal_lines(lines)
    lines.extend(f"note: {n}" for n in notes)
    counts = Counter(str(f.verdict) for f in findings if f.origin.resource or f.rule_id)
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "none found"
    suppressed = sum(1 for f in findings if f.suppressed is not None)
    lines.append(
        f"{files_scanned} files scanned; key policies and grants: {summary}; "
        f"{suppressed} suppressed"
    )
    return terminal_lines(lines)
