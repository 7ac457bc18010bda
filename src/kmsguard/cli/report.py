"""`kmsguard report`: the four KPIs from the history store, as text, JSON or a
self-contained HTML dashboard."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from kmsguard.errors import InputError

from .common import format_option, output_option, write_output
from .configured import ConfiguredCommand, config_option


def parse_since(value: str | None) -> datetime | None:
    """`2026-11-01`, `2026-11-01T09:00`, `2026-11-01T09:00:00Z` (UTC unless an offset is
    given)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--since `{value}` is not a date", hint="use e.g. 2026-11-01 or 2026-11-01T09:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def render_report(report: dict[str, object], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2)
    if fmt == "html":
        from kmsguard.report.dashboard import render_dashboard

        return render_dashboard(report)
    from kmsguard.report.kpi_text import render_kpis_text

    return render_kpis_text(report)


@click.command(cls=ConfiguredCommand, section="report")
@click.option("--since", metavar="DATE", help="Only trends, resolutions and blocks since DATE.")
@format_option(
    ["text", "json", "html"], "text for a terminal, json for machines, html: a one-file dashboard."
)
@output_option
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="History database (default: $KMSGUARD_DB, else SQLite in the user data folder).",
)
@config_option
def report(since: str | None, fmt: str, output: Path | None, db_url: str | None) -> int:
    """The four KPIs from recorded runs (`scan aws --record`, `scan iac --record`,
    `fix apply --record`): public and cross-account keys now and over time; time to
    remediate critical key-policy findings (mean, median, p90); share of customer managed
    keys with an owner tag; misconfigurations blocked before deployment.

    \b
    Examples:
      kmsguard report
      kmsguard report --format html -o dashboard.html
      kmsguard report --since 2026-11-01 --format json
    """
    from kmsguard.store.kpis import kpi_report

    text = render_report(kpi_report(db_url, parse_since(since)), fmt)
    write_output(text, output)
    if output is not None:
        click.echo(f"wrote {output}", err=True)
    return 0
