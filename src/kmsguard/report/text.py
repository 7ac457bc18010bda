"""Tables for people (Rich): one row per judged policy, then each exposure explained."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from functools import partial
from io import StringIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kmsguard.model import Finding, Severity, Verdict
from kmsguard.report.escape import terminal

_VERDICT_STYLE = {
    Verdict.PUBLIC: "bold red",
    Verdict.CROSS_ACCOUNT: "yellow",
    Verdict.PRIVATE: "green",
    Verdict.ERROR: "bold magenta",
    Verdict.UNRESOLVED: "magenta",
}
_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
    Severity.NONE: "dim",
}


def _actions(actions: Sequence[str], limit: int = 4) -> str:
    names = [a.removeprefix("kms:") for a in actions]
    more = f" +{len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _wrapper(width: int | None) -> Callable[[str], str]:
    """Detail lines wrapped at `width` under their own indent; whole when width is None."""
    if width is None:
        return lambda line: line

    def wrap(line: str) -> str:
        indent = " " * (len(line) - len(line.lstrip(" ")) + 4)
        return textwrap.fill(
            line,
            width=width,
            subsequent_indent=indent,
            break_on_hyphens=False,
            drop_whitespace=True,
        )

    return wrap


def render_text(
    findings: Sequence[Finding],
    *,
    color: bool = False,
    width: int | None = None,
    quiet: bool = False,
) -> str:
    """A table, then each exposure explained. `width` is the terminal's (tables fold
    their cells to fit, detail lines wrap); None: a 120-column table and whole detail lines.
    `quiet`: only policies with a finding, and no summary."""
    if quiet:
        findings = [f for f in findings if f.rule_id is not None]
    buf = StringIO()
    console = Console(
        file=buf,
        force_terminal=color,
        width=width or 120,
        no_color=not color,
        markup=False,
        highlight=False,
    )
    fit = _wrapper(width)
    table = Table(
        show_lines=False,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=width is not None and width < 120,
    )
    table.add_column("policy", overflow="fold", ratio=5)
    table.add_column("verdict", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("exposed actions", overflow="fold", ratio=4)
    table.add_column("to", overflow="fold", ratio=2)
    for f in findings:
        a = f.assessment
        principals = sorted(
            {p for e in a.exposures for p in e.principals if e.kind != "confused-deputy"}
        )
        table.add_row(
            terminal(f.origin.describe()),
            Text(str(a.verdict), style=_VERDICT_STYLE[a.verdict]),
            Text(str(a.severity), style=_SEVERITY_STYLE[a.severity]),
            terminal(_actions(a.exposed_actions))
            if a.verdict in (Verdict.PUBLIC, Verdict.CROSS_ACCOUNT)
            else "",
            terminal(", ".join(principals)),
        )
    if findings or not quiet:
        console.print(table)
    print_line = partial(console.print, soft_wrap=True)  # lines are wrapped here, or stay whole

    def say(line: str | Text) -> None:
        # every line holds input (Sids, ARNs, notes): control characters shown escaped
        if isinstance(line, Text):
            print_line(Text(fit(terminal(line.plain)), style=line.style))
        else:
            print_line(fit(terminal(line)))

    for f in findings:
        a = f.assessment
        if not (a.exposures or a.errors or a.notes):
            continue
        say(Text(f.origin.describe(), style="bold"))
        for e in a.exposures:
            restricted = " (network-restricted)" if e.network_restricted else ""
            say(
                f"  [{e.severity}] {e.kind}{restricted}: {_actions(e.actions, 8)} "
                f"via statement(s) {', '.join(e.statements)}"
            )
            if e.network_conditions:
                say(f"    only from: {'; '.join(e.network_conditions)}")
            if e.witness is not None:
                say(f"    witness: {e.witness.describe()}")
            for n in e.notes:
                say(f"    note: {n}")
        for err in a.errors:
            say(Text(f"  error: {err}", style="red"))
        for n in a.notes:
            say(f"  note: {n}")
    counts: dict[str, int] = {}
    for f in findings:
        counts[str(f.verdict)] = counts.get(str(f.verdict), 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    if not quiet:
        say(f"{len(findings)} policies: {summary}" if findings else "no policies")
    return buf.getvalue()
