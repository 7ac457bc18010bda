"""`kmsguard usage SOURCE...`: who used which KMS key, from CloudTrail logs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kmsguard.arn import region_of
from kmsguard.errors import ExitCode, InputError
from kmsguard.model import ZoneSpec

from .common import (
    Deadline,
    echo_error,
    echo_warning,
    format_option,
    output_option,
    write_output,
    zone_options,
)
from .configured import ConfiguredCommand, config_option

if TYPE_CHECKING:
    from kmsguard.usage.report import UsageReport

#: Bad files named one by one up to this many; the rest are counted.
_NAMED_SKIPS = 20
#: --deadline when reading S3 or Athena and none is given: a CI job gets exit 4 and the
#: unread files named instead of hanging on a stalled API.
REMOTE_DEADLINE = 3600.0


@click.command(cls=ConfiguredCommand, section="usage")
@click.argument("sources", nargs=-1)
@click.option("--since", help="Start of the window: YYYY-MM-DD, ISO date-time, or 90d / 12h.")
@click.option("--until", help="End of the window (a date includes that whole day).")
@click.option(
    "--key",
    "keys",
    multiple=True,
    help="Only this key: ARN, key id or alias (repeatable); keys with no calls are "
    "listed as unused.",
)
@zone_options
@format_option(["text", "json", "csv"])
@output_option
@click.option(
    "--engine",
    type=click.Choice(["local", "athena"]),
    default="local",
    show_default=True,
    help="local: read the files here; athena: run the aggregation on Amazon Athena.",
)
@click.option("--table", help="Athena CloudTrail table, DATABASE.TABLE (--engine athena).")
@click.option("--workgroup", default="primary", show_default=True, help="Athena workgroup.")
@click.option("--output-location", help="s3:// location for Athena query results.")
@click.option("--jobs", type=click.IntRange(1, 64), help="Worker processes (default: cores).")
@click.option("--region", help="AWS region for Athena and alias resolution.")
@click.option(
    "--allow-no-usage",
    is_flag=True,
    help="Report even when the sources hold no CloudTrail event in the window (else exit 2).",
)
@click.option(
    "--all-keys",
    is_flag=True,
    help="Also list the live account's keys (KMS ListKeys in --region, else in the regions "
    "of the keys seen) so keys with no calls show as unused.",
)
@click.option(
    "--max-log-size",
    type=click.FloatRange(min=0.001),
    default=256.0,
    show_default=True,
    metavar="MB",
    help="Most MB one log file may hold once decompressed; larger files (gzip bombs) are "
    "named and skipped (exit 4).",
)
@click.option(
    "--deadline",
    type=Deadline(),
    metavar="SECONDS|none",
    help=f"Stop after this long: log files not read by then are named and skipped, Athena "
    f"queries stopped (exit 4). Default {REMOTE_DEADLINE:g} s with s3:// sources or "
    "--engine athena, no limit for local files; 0 or none: no limit.",
)
@config_option
def usage(
    sources: tuple[str, ...],
    since: str | None,
    until: str | None,
    keys: tuple[str, ...],
    zone: ZoneSpec,
    fmt: str,
    output: Path | None,
    engine: str,
    table: str | None,
    workgroup: str,
    output_location: str | None,
    jobs: int | None,
    region: str | None,
    allow_no_usage: bool,
    all_keys: bool,
    max_log_size: float,
    deadline: float | None,
) -> int:
    """Who used each KMS key, from CloudTrail logs (a folder, files, or s3://bucket/prefix).

    \b
    Per key and caller (as a key policy names it): actions, via-services, VPC endpoints,
    encryption-context keys, first/last seen, denied attempts, and whether the caller is
    outside the zone of trust (the key's account, --account, --trusted-account).

    \b
    Examples:
      kmsguard usage ./cloudtrail --since 90d --account 123456789012
      kmsguard usage s3://trail-bucket/AWSLogs/ --key alias/app --format json -o usage.json
      kmsguard usage --engine athena --table cloudtrail.logs --since 30d --region eu-west-1
    """
    from kmsguard.report.usage_text import UsageFormat, render
    from kmsguard.usage import analyze_usage, live_keys, resolve_keys

    if zone.org_id or zone.trusted_orgs or zone.trusted_ou_paths:
        echo_warning(
            "CloudTrail does not record the caller's organization: only the key's account, "
            "`--account` and `--trusted-account` decide who is outside the zone of trust"
        )
    remote = engine == "athena" or any(s.startswith("s3://") for s in sources)
    if deadline is None:  # not given: bounded where AWS is read
        deadline = REMOTE_DEADLINE if remote else 0.0
    resolved = tuple(resolve_keys(keys, lambda r: _client("kms", r or region))) if keys else ()
    if engine == "athena":
        if sources:
            raise InputError(
                "`--engine athena` reads the Athena table, not SOURCE arguments",
                hint="drop the sources or use --engine local",
            )
        if not table:
            raise InputError("`--engine athena` needs `--table DATABASE.TABLE`")
        from kmsguard.usage.athena import AthenaTarget, analyze_with_athena

        report = analyze_with_athena(
            _client("athena", region),
            AthenaTarget(table=table, workgroup=workgroup, output_location=output_location),
            zone=zone.zone(),
            since=since,
            until=until,
            keys=resolved,
            deadline=deadline or None,
        )
    else:
        if not sources:
            raise InputError(
                "no log source given",
                hint="kmsguard usage ./AWSLogs or s3://bucket/prefix (or --engine athena)",
            )
        with _Progress() as progress:
            report = analyze_usage(
                list(sources),
                zone=zone.zone(),
                since=since,
                until=until,
                keys=resolved,
                jobs=jobs,
                progress=progress.update,
                on_listed=progress.start,
                s3_client=lambda: _client("s3", region),
                max_log_bytes=int(max_log_size * 1024 * 1024),
                deadline=deadline or None,
            )
    if all_keys:
        regions = (
            [region]
            if region
            else sorted({r for k in report.keys if (r := region_of(k.key_arn))})
            or [_client("kms", None).meta.region_name]
        )
        listed = live_keys(regions, lambda r: _client("kms", r))
        if resolved:  # with --key, only those keys are reported
            listed = [a for a in listed if a in resolved or a.rsplit("/", 1)[-1] in resolved]
        report = report.with_known_keys(listed)
    _warn_skipped(report)
    # No event at all is refused (an empty report reads as "nobody uses these keys") unless
    # files were skipped: then the run is incomplete (exit 4) and the skipped files are named.
    if report.events_read == 0 and not allow_no_usage and not report.skipped:
        where = ", ".join(f"`{s}`" for s in sources) if sources else f"`{table}`"
        w = report.window
        window = f"{w.since or 'the first log'} to {w.until or 'the last log'}"
        raise InputError(
            f"no CloudTrail event in {where} for the window {window} "
            f"({report.files} log files read)",
            hint="check the folder or prefix (AWSLogs/<account>/CloudTrail/...) and "
            "--since/--until; pass --allow-no-usage to write the empty report anyway",
        )
    write_output(render(report, UsageFormat(fmt)), output)
    for problem in report.input_errors:
        echo_error(problem, "the other sources were read")
    if report.input_errors:
        return int(ExitCode.USAGE)
    return int(ExitCode.INCOMPLETE if report.incomplete else ExitCode.OK)


def _client(service: str, region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(  # type: ignore[call-overload]  # service name chosen at run time
        service, region_name=region, config=Config(retries={"mode": "standard"})
    )


def _warn_skipped(report: UsageReport) -> None:
    for s in report.skipped[:_NAMED_SKIPS]:
        echo_warning(f"skipped `{s.name}`: {s.reason}")
    if report.skipped:
        more = len(report.skipped) - _NAMED_SKIPS
        tail = f" ({more} not named above)" if more > 0 else ""
        echo_warning(
            f"{len(report.skipped)} unreadable files skipped{tail}; the report is incomplete"
        )


class _Progress:
    """A progress bar on stderr for long reads (only on a terminal)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._tried = False
        self._total = 0

    def __enter__(self) -> _Progress:
        return self

    def start(self, total: int) -> None:
        self._total = total

    def _show(self, total: int) -> None:
        # started on the first update, once the engine's worker processes exist
        if total < 50 or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress(
            "reading logs",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("read", total=total)

    def update(self, done: int, total: int) -> None:
        if self._bar is None and not self._tried:
            self._tried = True
            self._show(total)
        if self._bar is not None:
            self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
