"""`kmsguard scan iac PATH...`: judge the KMS key policies of CloudFormation templates,
Terraform modules, Terraform plan JSON and plain policy files before deployment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import assert_never

import click

from kmsguard.errors import InputError
from kmsguard.model import Severity, Verdict, ZoneSpec
from kmsguard.report.escape import terminal_message

from .common import (
    announce_config,
    echo_error,
    echo_note,
    echo_warning,
    exit_code_for,
    fail_on_option,
    format_option,
    output_option,
    source_root,
    warn_no_account,
    write_output,
)
from .common import zone_options as _zone_options
from .configured import ConfiguredCommand, config_option, loaded_config
from .record import record_iac_scan, record_options
from .settings import CONFIG_NAME
from .terminal import Log, verbosity_options


class IacFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"


def expand_modules(paths: Sequence[Path]) -> tuple[Path, ...]:
    """A named Terraform file brings its module: every `.tf` / `.tf.json` file of its
    folder is judged and reported (the pre-commit hook passes only the changed files)."""
    out: dict[Path, None] = {}
    for p in paths:
        name = p.name.lower()
        if p.is_file() and (name.endswith(".tf") or name.endswith(".tf.json")):
            for sibling in sorted(p.parent.iterdir()):
                low = sibling.name.lower()
                if sibling.is_file() and (low.endswith(".tf") or low.endswith(".tf.json")):
                    out[sibling] = None
        else:
            out[p] = None
    return tuple(out)


@click.command(name="iac", cls=ConfiguredCommand, section="iac")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_zone_options
@format_option([f.value for f in IacFormat], "Report format.")
@output_option
@fail_on_option
@config_option
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
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KMSGUARD_BASELINE",
    help="Findings recorded in this baseline are reported as accepted and do not fail.",
)
@click.option(
    "--write-baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Record every current finding in FILE (accepting them), then report as usual.",
)
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The repository root that SARIF paths and fingerprints are relative to "
    "(default: the git top level of the first PATH).",
)
@click.option(
    "--inline-suppressions/--no-inline-suppressions",
    default=True,
    show_default=True,
    help="Honour `# kmsguard:ignore` comments and template metadata (off for audits; "
    "config-file suppressions still apply).",
)
@click.option(
    "--whole-modules",
    is_flag=True,
    help="A named .tf file brings every .tf file of its folder (the pre-commit hook).",
)
@click.option(
    "--allow-path",
    "allow_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A folder Terraform's file()/templatefile() may read besides the scanned PATHs "
    "(repeatable).",
)
@verbosity_options
@record_options
def scan_iac(
    paths: tuple[Path, ...],
    zone: ZoneSpec,
    fmt: str,
    output: Path | None,
    fail_on: str,
    exclude: tuple[str, ...],
    max_file_size: float,
    baseline: Path | None,
    write_baseline: Path | None,
    base_dir: Path | None,
    inline_suppressions: bool,
    whole_modules: bool,
    quiet: bool,
    verbose: bool,
    allow_paths: tuple[Path, ...],
    record: bool,
    db_url: str | None,
) -> int:
    """Judge key policies in CloudFormation, Terraform and plan JSON before deployment.

    \b
    PATH is a folder (searched recursively; .terraform, node_modules and .git are
    skipped) or a file: CloudFormation YAML/JSON, Terraform .tf / .tf.json (each folder
    one module), plan JSON (`terraform show -json`), or a key policy JSON file.
    Settings come from .kmsguard.toml (see `kmsguard config show`); flags win.

    \b
    Exit codes: 0 nothing at or above --fail-on, 2 usage or input error,
    3 findings at or above --fail-on, 4 something could not be read or resolved.

    \b
    With --record, the run goes to the history store; findings at or above --fail-on
    count as blocked before deployment.

    \b
    Examples:
      kmsguard scan iac . --account 123456789012 --format sarif -o kmsguard.sarif
      kmsguard scan iac infra/ --write-baseline .kmsguard-baseline.json
      kmsguard scan iac infra/ --baseline .kmsguard-baseline.json --fail-on high
    """
    from .baseline import apply_baseline, load_baseline
    from .baseline import write_baseline as save_baseline

    log = Log.of(quiet, verbose)
    loaded = loaded_config()
    announce_config(log)
    if loaded.legacy and not quiet:
        echo_warning(
            f"`--config {loaded.path}`: YAML/JSON suppressions files are deprecated; move "
            f"the settings to {CONFIG_NAME} ([iac] exclude, [[iac.suppressions]], "
            "trusted-accounts) — see docs/ci.md"
        )
    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing and len(missing) == len(paths):
        raise InputError(
            "no such file or folder: " + ", ".join(f"`{p}`" for p in missing),
            hint="give the folders or files that hold your templates",
        )
    paths = tuple(p for p in paths if p not in missing)  # the others are still reported
    if baseline is not None and write_baseline is not None:
        source = click.get_current_context().get_parameter_source("baseline")
        if source is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--baseline and --write-baseline cannot be combined")
        baseline = None  # the config file's baseline is being rewritten
    accepted = load_baseline(baseline) if baseline is not None else None
    started_at = dt.datetime.now(dt.UTC)
    config = loaded.iac
    spec = replace(
        zone,
        trusted_accounts=(*zone.trusted_accounts, *config.trusted_accounts),
        trusted_orgs=(*zone.trusted_orgs, *config.trusted_orgs),
    )
    if spec.account is None and not quiet and fmt == IacFormat.TEXT.value:
        warn_no_account()  # machine formats keep standard error for problems
    if whole_modules:
        paths = expand_modules(paths)
    for p in paths:
        log.info(f"scanning {p}")
    from kmsguard.iac.pipeline import scan_paths

    notes: list[str] = []
    with log.timed("scanned"):
        findings, files_scanned = scan_paths(
            paths,
            spec.zone(),
            config=config,
            exclude=exclude,
            max_file_bytes=int(max_file_size * 1024 * 1024),
            inline_suppressions=inline_suppressions,
            allow_paths=allow_paths,
            notes=notes,
        )
    log.info(f"{files_scanned} file(s) read, {len(findings)} key policies and grants judged")
    root = source_root(paths, base_dir)
    log.info(f"repository root (SARIF paths, fingerprints): {root}")
    if write_baseline is not None:
        written = save_baseline(write_baseline, findings, root)
        accepted = load_baseline(write_baseline)
        baseline = write_baseline
        if not quiet:
            echo_note(f"baseline `{write_baseline}` written: {written} finding(s) accepted")
    if accepted is not None and baseline is not None:
        findings = apply_baseline(findings, accepted, baseline, root)

    format_ = IacFormat(fmt)
    match format_:
        case IacFormat.TEXT:
            from kmsguard.report.iac_text import render_text

            text = render_text(findings, files_scanned, notes, quiet=quiet)
        case IacFormat.JSON:
            from kmsguard.report.json_report import render_json

            text = render_json(findings)
        case IacFormat.SARIF:
            from kmsguard.report.sarif import render_sarif

            text = render_sarif(findings, base_dir=root)
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

