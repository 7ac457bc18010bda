"""The text of a fix plan offer for people (what changes, the replay of observed calls,
who would lose access, every verification check, and the diff) and of what applying or
rolling back did."""

from __future__ import annotations

from kmsguard.fix.outcome import Applied, Skipped
from kmsguard.fix.planning import Offer
from kmsguard.policy.remediation import ReplayOutcome
from kmsguard.report.escape import terminal_lines


def mark(ok: bool) -> str:
    """The verification column: `ok  ` or `FAIL`."""
    return "ok  " if ok else "FAIL"


def render_offer(offer: Offer) -> str:
    plan, v = offer.plan, offer.verification
    lines = [f"fix plan for {offer.source}"]
    if not plan.changed:
        lines.append(f"  nothing to fix: the policy is {offer.verdict_before}")
        return terminal_lines(lines)
    lines.append(
        f"  verdict: {offer.verdict_before} -> {v.verdict_after}    strategy: {plan.strategy}"
    )
    lines.extend(_evidence_lines(offer))
    lines.append("")
    lines.append("changes:")
    for c in plan.changes:
        target = f" -> {', '.join(c.replacements)}" if c.replacements else ""
        lines.append(f"  {c.statement}: {c.change}{target}  ({c.detail})")
    kept = v.calls(ReplayOutcome.KEPT)
    broken = v.calls(ReplayOutcome.BROKEN)
    dropped = v.calls(ReplayOutcome.DROPPED)
    trusted_total = kept + broken
    share = f"{100 * kept / trusted_total:.0f}%" if trusted_total else "n/a"
    lines.append("")
    lines.append(
        f"replay: {kept} of {trusted_total} trusted calls still allowed ({share}), "
        f"{dropped} external calls dropped"
    )
    for r in v.replay:
        if r.outcome is ReplayOutcome.KEPT:
            continue
        lines.append(f"  {r.outcome}: {r.principal} {r.action} ({r.calls} calls)")
    if plan.would_lose_access:
        lines.append("")
        lines.append("would lose access (outside the zone of trust):")
        for x in plan.would_lose_access:
            lines.append(
                f"  {x.principal} (account {x.account}): {', '.join(x.actions)}, "
                f"{x.calls} calls  [keep with --keep-external {x.account}]"
            )
    if plan.kept_external:
        lines.append(f"kept on purpose: {', '.join(plan.kept_external)}")
    lines.append("")
    lines.append("verification:")
    for check in v.checks:
        lines.append(f"  {mark(check.ok)} {check.name}: {check.detail}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    lines.append("")
    lines.extend(offer.diff().rstrip("\n").split("\n"))
    return terminal_lines(lines)


def _evidence_lines(offer: Offer) -> list[str]:
    """Where the plan's usage came from: window, event counts, and warnings."""
    e = offer.evidence
    if not e:
        return []
    w = e.get("window") or {}
    assert isinstance(w, dict)
    since = w.get("since") or w.get("first_event") or "the first log"
    until = w.get("until") or w.get("last_event") or "the last log"
    read = e.get("events_read")
    tail = f", {read} CloudTrail events read" if read is not None else ""
    lines = [f"  evidence: {e.get('key_events')} events for this key, {since} to {until}{tail}"]
    warnings = e.get("warnings") or []
    assert isinstance(warnings, list)
    lines += [f"  warning: {x}" for x in warnings]
    return lines


def render_fix_result(result: Applied | Skipped) -> str:
    """What `fix apply` / `fix rollback` did: the saved and written versions and the diff,
    or why nothing was written."""
    if isinstance(result, Applied):
        verb = "applied" if result.operation == "apply" else "rolled back"
        lines = [
            f"{verb}: {result.key_arn}",
            f"  previous policy saved as version {result.saved.id} "
            f"(sha256 {result.saved.sha256[:12]}), backup file {result.backup_path}",
            f"  new policy read back as version {result.written.id}: "
            + (
                "identical to what was sent"
                if result.readback_matches
                else "DIFFERS from what was sent"
            ),
            f"  verdict after: {result.verdict_after}",
            f"  undo with: kmsguard fix rollback --key {result.key_arn} --to {result.saved.id} "
            "--yes",
        ]
        if result.diff:  # what was written, always shown
            lines.extend(result.diff.rstrip("\n").split("\n"))
        return terminal_lines(lines)
    lines = [f"{result.reason}: {result.detail}"]
    if result.verification is not None:
        lines.extend(f"  {mark(c.ok)} {c.name}: {c.detail}" for c in result.verification.checks)
    if result.diff:
        lines.extend(result.diff.rstrip("\n").split("\n"))
    return terminal_lines(lines)
