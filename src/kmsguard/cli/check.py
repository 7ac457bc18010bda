"""`kmsguard check`: judge key policy documents against a zone of trust."""

from __future__ import annotations

from pathlib import Path

import click

from kmsguard.errors import PolicyParseError
from kmsguard.model import Assessment, Finding, Origin, TrustZone, Verdict, ZoneSpec
from kmsguard.policy import analyze_inferring_owner, parse_policy
from kmsguard.rules import UNREADABLE, rule_for_assessment

from .common import (
    announce_config,
    echo_error,
    exit_code_for,
    fail_on_option,
    format_option,
    output_option,
    source_root,
    warn_no_account,
    write_output,
    zone_options,
)
from .configured import ConfiguredCommand, config_option
from .inputs import read_inputs
from .terminal import Log, use_color, verbosity_options, width


def judge_inputs(paths: tuple[str, ...], zone: TrustZone) -> tuple[list[Finding], list[str]]:
    """One finding per input; the problems list names every input that was not a policy."""
    findings: list[Finding] = []
    problems: list[str] = []
    seen: dict[str, Assessment] = {}  # identical documents are analysed once
    for item in read_inputs(paths):
        origin = Origin(source=item.source)
        if item.text is None:
            problem = item.problem or "unreadable"
            problems.append(problem)
            findings.append(_error_finding(origin, problem))
            continue
        assessment = seen.get(item.text)
        if assessment is None:
            try:
                # without --account the owner is read from the administrator statement
                assessment = analyze_inferring_owner(parse_policy(item.text), zone)
            except PolicyParseError as exc:
                message = f"`{item.source}`: {exc.message}"
                problems.append(message)
                findings.append(_error_finding(origin, exc.message))
                continue
            seen[item.text] = assessment
        findings.append(Finding(origin, rule_for_assessment(assessment), assessment))
    return findings, problems


def _error_finding(origin: Origin, message: str) -> Finding:
    return Finding(origin, UNREADABLE, Assessment.unreadable(message))


@click.command(cls=ConfiguredCommand, section="check")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@zone_options
@format_option(
    ["text", "json", "sarif"],
    "text: a table for people; json: one object per input; sarif: for code scanning.",
)
@fail_on_option
@output_option
@config_option
@verbosity_options
def check(
    paths: tuple[str, ...],
    zone: ZoneSpec,
    fmt: str,
    fail_on: str,
    output: Path | None,
    quiet: bool,
    verbose: bool,
) -> int:
    """Judge KMS key policies: public, cross-account or private, with a witness.

    PATH is a policy JSON file, the output of `aws kms get-key-policy`, a directory
    (searched recursively for *.json) or `-` for standard input.

    \b
    Exit codes: 0 nothing at or above --fail-on; 2 an input is not a readable policy
    (the others are still judged); 3 findings at or above --fail-on; 1 internal error.

    \b
    Examples:
      kmsguard check --account 123456789012 --org-id o-abcdefghij policy.json
      kmsguard check --format json policies/
      aws kms get-key-policy --key-id alias/app --policy-name default | kmsguard check -
    """
    log = Log.of(quiet, verbose)
    announce_config(log)
    if zone.account is None and not quiet:
        warn_no_account()
    with log.timed(f"judged {len(paths)} input(s)"):
        findings, problems = judge_inputs(paths, zone.zone())
    for f in findings:
        log.info(f"read {f.origin.source}")
    text = render(
        findings,
        fmt,
        color=use_color(output is not None),
        quiet=quiet,
        base_dir=source_root(paths, None),
    )
    write_output(text, output)
    for p in problems:
        echo_error(p)
    undecided = any(f.verdict is Verdict.ERROR for f in findings) and not problems
    return exit_code_for(
        [f.severity for f in findings], fail_on, input_errors=bool(problems), incomplete=undecided
    )


def render(
    findings: list[Finding],
    fmt: str,
    *,
    color: bool,
    quiet: bool = False,
    base_dir: Path | None = None,
) -> str:
    match fmt:
        case "json":
            from kmsguard.report.json_report import render_json

            return render_json(findings)
        case "sarif":
            from kmsguard.report.sarif import render_sarif

            return render_sarif(findings, base_dir=base_dir)
        case _:
            from kmsguard.report.text import render_text

            return render_text(findings, color=color, width=width(), quiet=quiet)
