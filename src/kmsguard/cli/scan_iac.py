"""`kmsguard scan iac PATH...`: judge the KMS key policies of CloudFormation templates,
Terraform modules, Terraform plan JSON and plain policy files before deployment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

import click

from kmsguard.errors import InputError
from kmsguard.model import Finding, Severity, TrustZone, Verdict
from kmsguard.report.escape import terminal_message

from .common import (
    build_zone,
    echo_error,
    exit_code_for,
    fail_on_option,
    output_option,
    write_output,
)
from .common import zone_options as _zone_options
from .record import record_iac_scan, record_options

if TYPE_CHECKING:
    from kmsguard.iac.suppressions import Config


class IacFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"


def scan_paths(
    paths: Sequence[Path],
    zone: TrustZone,
    *,
    config: Config | None = None,
    exclude: Sequence[str] = (),
    max_file_bytes: int = 5 * 1024 * 1024,
    allow_paths: Sequence[Path] = (),
    notes: list[str] | None = None,
) -> tuple[list[Finding], int]:
    """What `kmsguard scan iac` does before rendering: collect the key policies and grants
    under `paths`, judge them against `zone`, apply the suppressions (inline, metadata and
    `config`). Returns the findings and the number of files scanned; `notes`, when given,
    receives what is worth knowing but no finding (module calls not followed). Terraform's
    `file()` and `templatefile()` read only under `paths` and `allow_paths`."""
    from kmsguard.iac.scan import ScanOptions, collect, judge_all
    from kmsguard.iac.suppressions import Config, apply
    from kmsguard.safeio import read_scope

    config = config if config is not None else Config()
    options = ScanOptions(
        zone=zone, max_file_bytes=max_file_bytes, exclude=(*exclude, *config.exclude)
    )
    with read_scope([*paths, *allow_paths]):
        collected = collect(paths, options)
    if notes is not None:
        notes.extend(collected.notes)
    findings = judge_all(collected.items, zone)
    end_lines = {
        (i.origin.source, i.origin.line, i.origin.resource): i.end_line for i in collected.items
    }
    findings = apply(
        findings,
        config=config.suppressions,
        texts=collected.texts,
        end_lines=end_lines,
        today=dt.date.today(),
        metadata={
            (i.origin.source, i.origin.line, i.origin.resource): i.metadata
            for i in collected.items
            if i.metadata is not None
        },
    )
    return findings, collected.files_scanned


@click.command(name="iac")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_zone_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in IacFormat]),
    default=IacFormat.TEXT.value,
    show_default=True,
    help="Report format.",
)
@output_option
@fail_on_option
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML/JSON config: suppressions (with reason, optional expiry), exclude globs.",
)
@click.option(
    "--exclude",
    multiple=True,
    help="Skip paths matching this glob (repeatable), e.g. 'examples/*'.",
)
@click.option(
    "--max-file-size",
    type=click.FloatRange(min=0.001),
    default=5.0,
    show_default=True,
    help="Files larger than this many MB are reported, not read.",
)
@click.option(
    "--allow-path",
    "allow_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A folder Terraform's file()/templatefile() may read besides the scanned PATHs "
    "(repeatable).",
)
@record_options
def scan_iac(
    paths: tuple[Path, ...],
    account: str | None,
    org_id: str | None,
    trusted_accounts: tuple[str, ...],
    trusted_orgs: tuple[str, ...],
    trusted_ou_paths: tuple[str, ...],
    fmt: str,
    output: Path | None,
    fail_on: str,
    config_path: Path | None,
    exclude: tuple[str, ...],
    max_file_size: float,
    allow_paths: tuple[Path, ...],
    record: bool,
    db_url: str | None,
) -> int:
    """Judge key policies in CloudFormation, Terraform and plan JSON before deployment.

    \b
    PATH is a folder (searched recursively; .terraform, node_modules and .git are
    skipped) or a file: CloudFormation YAML/JSON, Terraform .tf / .tf.json (each folder
    one module), plan JSON (`terraform show -json`), or a key policy JSON file.

    \b
    Exit codes: 0 nothing at or above --fail-on, 2 usage or input error,
    3 findings at or above --fail-on, 4 something could not be read or resolved.

    \b
    With --record, the run goes to the history store; findings at or above --fail-on
    count as blocked before deployment.

    \b
    Example:
      kmsguard scan iac . --account 123456789012 --format sarif -o kmsguard.sarif
    """
    from kmsguard.iac.suppressions import Config, load_config

    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing and len(missing) == len(paths):
        raise InputError(
            "no such file or folder: " + ", ".join(f"`{p}`" for p in missing),
            hint="give the folders or files that hold your templates",
        )
    paths = tuple(p for p in paths if p not in missing)  # the others are still reported
    started_at = dt.datetime.now(dt.UTC)
    config = load_config(config_path) if config_path is not None else Config()
    zone = build_zone(
        account,
        org_id,
        (*trusted_accounts, *config.trusted_accounts),
        (*trusted_orgs, *config.trusted_orgs),
        trusted_ou_paths,
    )
    notes: list[str] = []
    findings, files_scanned = scan_paths(
        paths,
        zone,
        config=config,
        exclude=exclude,
        max_file_bytes=int(max_file_size * 1024 * 1024),
        allow_paths=allow_paths,
        notes=notes,
    )

    format_ = IacFormat(fmt)
    match format_:
        case IacFormat.TEXT:
            from kmsguard.report.iac_text import render_text

            text = render_text(findings, files_scanned, notes)
        case IacFormat.JSON:
            from kmsguard.report.json_report import render_json

            text = render_json(findings)
        case IacFormat.SARIF:
            from kmsguard.report.sarif import render_sarif

            text = render_sarif(findings)
        case IacFormat.JUNIT:
            from kmsguard.report.junit import render_junit

            text = render_junit(findings, fail_on=Severity(fail_on))
        case _:
            assert_never(format_)
    write_output(text, output)
    for p in missing:
        echo_error(f"no such file or folder: `{p}`", "the other paths were scanned")
    if format_ is not IacFormat.TEXT:
        for n in notes:  # the report's shape stays as it is; the notes go to stderr
            click.echo(f"note: {terminal_message(n)}", err=True)

    active = [f for f in findings if f.suppressed is None]
    incomplete = any(f.verdict in (Verdict.ERROR, Verdict.UNRESOLVED) for f in active)
    if record:
        record_iac_scan(
            findings,
            paths,
            db_url,
            fail_on=Severity(fail_on),
            complete=not incomplete,
            started_at=started_at,
        )
    return int(
        exit_code_for(
            [f.severity for f in active],
            fail_on,
            input_errors=bool(missing),
            incomplete=incomplete,
        )
    )
