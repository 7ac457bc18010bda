"""The text of a fix plan offer for people: what changes, the replay of observed calls,
who would lose access, every verification check, and the diff."""

from __future__ import annotations

from kmsguard.fix.planning import Offer
from kmsguard.policy.remediation import ReplayOutcome


def mark(ok: bool) -> str:
    """The verification column: `ok  ` or `FAIL`."""
    return "ok  " if ok else "FAIL"


def render_offer(offer: Offer) -> str:
    plan, v = offer.plan, offer.verification
    lines = [f"fix plan for {offer.source}"]
    if not plan.changed:
        lines.append(f"  nothing to fix: the policy is {offer.verdict_before}")
        return "\n".join(lines)
    lines.append(
        f"  verdict: {offer.verdict_before} -> {v.verdict_after}    strategy: {plan.strategy}"
    )
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
    lines.append(offer.diff().rstrip("\n"))
    return "\n".join(lines)
