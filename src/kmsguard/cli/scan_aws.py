"""`kmsguard scan aws`: judge every customer managed KMS key of live accounts and regions."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from kmsguard.aws.accounts import DEFAULT_ROLE
from kmsguard.aws.result import ScanResult
from kmsguard.aws.scan import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RPS,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    ScanCounts,
    ScanOptions,
)
from kmsguard.errors import ExitCode, SourceError
from kmsguard.report.asff import KnownFixed

from .common import (
    _org,
    announce_config,
    aws_session,
    deadline_option,
    echo_warning,
    exit_code_for,
    fail_on_option,
    format_option,
    output_option,
    trusted_options,
    write_output,
)
from .configured import ConfiguredCommand, config_option
from .record import record_aws_scan, record_options
from .terminal import Log, verbosity_options

FORMATS = ("text", "json", "sarif", "csv", "asff")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def _regions(
    _ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    bad = [r for r in value if not _REGION_RE.match(r)]
    if bad:
        raise click.BadParameter(
            ", ".join(f"`{r}`" for r in bad) + " is not a region name, e.g. `eu-west-1`",
            param=param,
        )
    return tuple(dict.fromkeys(value))


def render(result: ScanResult, fmt: str, *, fixed: KnownFixed | None = None) -> str:
    if fmt == "json":
        from kmsguard.report.json_report import render_scan_json

        return render_scan_json(result)
    if fmt == "csv":
        from kmsguard.report.csv_report import render_csv

        return render_csv(result)
    if fmt == "asff":
        from kmsguard.report.asff import render_asff

        return render_asff(result, fixed=fixed)
    if fmt == "sarif":
        from kmsguard.report.sarif import render_sarif

        return render_sarif(result.findings())
    from kmsguard.report.aws_text import render_text

    return render_text(result)


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A Rich progress display on stderr when it is a terminal; otherwise nothing."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        tasks = {name: bar.add_task(name, total=None) for name in ("accounts", "regions", "keys")}

        def update(c: ScanCounts) -> None:
            bar.update(tasks["accounts"], total=c.accounts_total, completed=c.accounts_done)
            bar.update(tasks["regions"], total=c.regions_total, completed=c.regions_done)
            bar.update(tasks["keys"], total=c.keys_total, completed=c.keys_done)

        yield update


@click.command(name="aws", cls=ConfiguredCommand, section="aws")
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION",
    callback=_regions,
    help="Scan only this region (repeatable). Default: every region enabled for the account.",
)
@click.option("--org", is_flag=True, help="Scan every active account of the organization.")
@click.option(
    "--role",
    "role_name",
    default=DEFAULT_ROLE,
    show_default=True,
    help="Role assumed in each account other than the caller's (--org, --accounts).",
)
@click.option(
    "--accounts",
    "accounts_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file of account ids, one per line, to scan via --role.",
)
@click.option(
    "--org-id",
    callback=_org,
    envvar="KMSGUARD_ORG_ID",
    help="Trust this organization (default with --org: own).",
)
@trusted_options()
@click.option(
    "--owner-tag",
    "owner_tags",
    multiple=True,
    metavar="KEY",
    help="Tag key naming a key's owner, matched case-insensitively (repeatable; default owner).",
)
@format_option(FORMATS, "Report format.")
@output_option
@fail_on_option
@click.option(
    "--max-rps",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_MAX_RPS,
    show_default=True,
    help="Most KMS requests per second per account and region (retries included).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Concurrent API calls across accounts, regions and keys.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 20),
    default=DEFAULT_MAX_ATTEMPTS,
    show_default=True,
    help="Attempts per API call (botocore adaptive retries).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=600),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to connect and to wait for each answer, per attempt of each API call.",
)
@deadline_option(DEFAULT_DEADLINE, "what is not read by then is reported as unread (exit 4)")
@click.option("--profile", help="AWS profile (default: AWS_PROFILE or the default chain).")
@click.option(
    "--security-hub",
    is_flag=True,
    help="Also import the findings into Security Hub (BatchImportFindings) in their regions.",
)
@config_option
@verbosity_options
@record_options
def scan_aws(
    *,
    regions: tuple[str, ...],
    org: bool,
    role_name: str,
    accounts_file: Path | None,
    org_id: str | None,
    trusted_accounts: tuple[str, ...],
    trusted_orgs: tuple[str, ...],
    trusted_ou_paths: tuple[str, ...],
    owner_tags: tuple[str, ...],
    fmt: str,
    output: Path | None,
    fail_on: str,
    max_rps: float,
    workers: int,
    max_attempts: int,
    timeout: float,
    deadline: float,
    profile: str | None,
    security_hub: bool,
    quiet: bool,
    verbose: bool,
    record: bool,
    db_url: str | None,
) -> int:
    """Judge every customer managed KMS key: key policy exposure, grants to outside
    principals, and owner tags, across regions and accounts.

    \b
    Exit codes: 0 clean, 3 findings at or above --fail-on, 4 something could not be
    read (and nothing worse), 2 usage error.

    \b
    Examples:
      kmsguard scan aws --region eu-west-1 --region us-east-1
      kmsguard scan aws --org --role kmsguard-scanner --format sarif -o kms.sarif
      kmsguard scan aws --format asff -o findings.json --security-hub
    """
    log = Log.of(quiet, verbose)
    announce_config(log)
    if org and accounts_file is not None:
        raise click.UsageError("--org and --accounts cannot be combined")
    accounts: tuple[str, ...] = ()
    if accounts_file is not None:
        from kmsguard.aws.accounts import read_accounts_file

        accounts = read_accounts_file(accounts_file)
    options = ScanOptions(
        regions=regions,
        org=org,
        accounts=accounts,
        role_name=role_name,
        owner_tag_keys=owner_tags or ("owner",),
        max_rps=max_rps,
        workers=workers,
        max_attempts=max_attempts,
        timeout=timeout,
        deadline=deadline or None,  # 0: no limit
        org_id=org_id,
        trusted_accounts=frozenset(trusted_accounts),
        trusted_orgs=frozenset(trusted_orgs),
        trusted_org_paths=frozenset(trusted_ou_paths),
    )
    started_at = datetime.now(UTC)
    with log.timed("scanned"):
        result = _run(options, profile, progress=not quiet)
    s = result.summary()
    log.info(
        f"{s['accounts']} account(s), {s['regions']} region(s), {s['keys_scanned']} key(s) "
        f"judged with {s['api_calls_total']} API calls"
    )
    fixed = known_fixed(record, db_url)
    write_output(render(result, fmt, fixed=fixed), output)
    if security_hub:
        _import(result, profile, max_attempts, workers, fixed, log)
    if record:
        record_aws_scan(result, db_url, started_at=started_at)
    if result.incomplete:
        s = result.summary()
        echo_warning(
            f"scan incomplete: {s['keys_errored']} key(s) and {s['failed_scopes']} "
            "account/region scope(s) could not be read"
        )
        if unread := deadline_unread(result):
            echo_warning(f"the --deadline of {deadline:g} s passed; not read: {unread}")
    code: ExitCode = exit_code_for(
        result.severities(), fail_on, input_errors=False, incomplete=result.incomplete
    )
    return int(code)


def deadline_unread(result: ScanResult, named: int = 5) -> str:
    """What the deadline left unread, by name (the first `named` of each kind)."""
    scopes = [
        f"account {f.account}" + (f" region {f.region}" if f.region else "")
        for f in result.failures
        if f.error.code == "DeadlineExceeded"
    ]
    keys = [k.arn for k in result.keys if any(e.code == "DeadlineExceeded" for e in k.errors)]
    parts = []
    for kind, names in (("scope(s)", scopes), ("key(s)", keys)):
        if names:
            more = f" and {len(names) - named} more" if len(names) > named else ""
            parts.append(f"{len(names)} {kind}: " + ", ".join(names[:named]) + more)
    return "; ".join(parts)


def known_fixed(record: bool, db_url: str | None) -> KnownFixed | None:
    """The history store's answer to "which findings are known fixed", when a store is in
    use (--record or --db); without one nothing is marked resolved."""
    if not record and db_url is None:
        return None
    from .known_fixed import StoreKnownFixed
    from .record import open_history

    return StoreKnownFixed(open_history(db_url))


def _import(
    result: ScanResult,
    profile: str | None,
    max_attempts: int,
    workers: int,
    fixed: KnownFixed | None,
    log: Log,
) -> None:
    from kmsguard.aws.securityhub import import_findings
    from kmsguard.aws.session import SessionClients, client_config
    from kmsguard.report.asff import asff_findings

    findings = asff_findings(result, fixed=fixed)
    clients = SessionClients(aws_session(profile), client_config(max_attempts, workers))
    try:
        imported = import_findings(clients, findings)
    except Exception as exc:  # botocore's errors: say which call failed, exit 4
        raise SourceError(f"Security Hub BatchImportFindings failed: {exc}") from None
    log.info(f"Security Hub: {imported.imported} finding(s) imported")
    if imported.failed:
        raise SourceError(
            f"Security Hub refused {len(imported.failed)} finding(s): "
            + "; ".join(imported.failed[:5])
        )


def _run(options: ScanOptions, profile: str | None, *, progress: bool = True) -> ScanResult:
    from kmsguard.aws.scan import AwsScanner

    session = aws_session(profile)
    with _progress(progress and sys.stderr.isatty()) as update:
        return AwsScanner(session, options, progress=update).scan()
