"""`kmsguard demo`: the main job on bundled examples, no AWS account needed.

Four parts, each run through the same code as the command it stands for:

1. key policies (`kmsguard check`) on `demo/policies/`;
2. infrastructure as code (`kmsguard scan iac`) on `demo/iac/`;
3. who uses the quick-fix key (`kmsguard usage`) on the CloudTrail tree `demo/cloudtrail/`
   (written by `demo/make_cloudtrail.py`);
4. a verified fix (`kmsguard fix plan --policy ... --usage ...`) for that key.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kmsguard.errors import ExitCode
from kmsguard.model import ZoneSpec

from .check import judge_inputs, render
from .common import format_option

if TYPE_CHECKING:
    from kmsguard.fix.planning import Offer
    from kmsguard.model import Finding
    from kmsguard.usage import UsageReport

DEMO_ACCOUNT = "111122223333"
DEMO_ORG = "o-a1b2c3d4e5"
#: the policy of the key whose CloudTrail usage is bundled
QUICK_FIX = "02-quick-fix-wildcard.json"

#: the command lines each part stands for, run from the demo folder
COMMANDS = {
    "policies": (f"kmsguard check --account {DEMO_ACCOUNT} --org-id {DEMO_ORG} policies/",),
    "iac": (f"kmsguard scan iac iac/ --account {DEMO_ACCOUNT}",),
    "usage": (f"kmsguard usage cloudtrail/ --account {DEMO_ACCOUNT}",),
    "fix": (
        f"kmsguard usage cloudtrail/ --account {DEMO_ACCOUNT} --format json -o usage.json",
        f"kmsguard fix plan --policy policies/{QUICK_FIX} --usage usage.json "
        f"--account {DEMO_ACCOUNT}",
    ),
}


@dataclass(frozen=True, slots=True)
class DemoRun:
    policies: list[Finding]
    iac: list[Finding]
    iac_files: int
    usage: UsageReport
    fix: Offer


def run_demo(base: Path) -> DemoRun:
    """The four parts on the demo folder `base` (policies/, iac/, cloudtrail/)."""
    from kmsguard.demo.cli_support import cwd
    from kmsguard.fix.offer import offer_for
    from kmsguard.iac.pipeline import scan_paths
    from kmsguard.usage import analyze_usage

    account_zone = ZoneSpec(DEMO_ACCOUNT).zone()
    with cwd(base / "policies"):
        policies, _ = judge_inputs((".",), ZoneSpec(DEMO_ACCOUNT, DEMO_ORG).zone())
    with cwd(base):
        iac, iac_files = scan_paths([Path("iac")], account_zone)
        # one process: a few small files are read faster than a pool starts
        usage = analyze_usage(["cloudtrail"], zone=account_zone, jobs=1)
        with tempfile.TemporaryDirectory(prefix="kmsguard-demo-") as tmp:
            usage_file = Path(tmp) / "usage.json"
            usage_file.write_text(usage.to_json(), encoding="utf-8")
            offer = offer_for(
                key=None,
                kms=None,
                policy_file=Path("policies") / QUICK_FIX,
                usage_file=usage_file,
                cloudtrail=(),
                since=None,
                until=None,
                usage_key=None,
                allow_no_usage=False,
                warn_window=False,  # the demo's logs are a fixed week in the past
                strategy="principals",
                keep_external=(),
                zone=ZoneSpec(DEMO_ACCOUNT),
            )
    return DemoRun(policies, iac, iac_files, usage, offer)


def _part(number: int, title: str, commands: tuple[str, ...], body: str) -> str:
    lines = [f"== {number}. {title} ==", *(f"$ {c}" for c in commands), "", body.strip("\n")]
    return "\n".join(lines)


def render_demo_text(run: DemoRun, base: Path, *, color: bool) -> str:
    from kmsguard.report.fix_text import render_offer
    from kmsguard.report.iac_text import render_text as render_iac
    from kmsguard.report.usage_text import render_text as render_usage


    policies = (
        f"judging {len(run.policies)} example key policies of account {DEMO_ACCOUNT} "
        f"(organization {DEMO_ORG})\n\n" + render(run.policies, "text", color=color)
    )
    parts = [
        f"kmsguard demo: the main job on bundled data of account {DEMO_ACCOUNT}, "
        f"no AWS account or network needed\n(the commands below run in {base})",
        _part(1, "Key policies", COMMANDS["policies"], policies),
        _part(2, "Infrastructure as code", COMMANDS["iac"], render_iac(run.iac, run.iac_files)),
        _part(
            3,
            f"Who uses the key of {QUICK_FIX} (CloudTrail)",
            COMMANDS["usage"],
            render_usage(run.usage),
        ),
        _part(4, "A verified fix, planned from that usage", COMMANDS["fix"], render_offer(run.fix)),
        "Next: `kmsguard check --account ID --org-id ORG POLICY.json`, "
        "`kmsguard scan iac .`, `kmsguard scan aws`, `kmsguard usage LOGS/`, "
        "`kmsguard fix plan --help`.",
    ]
    return "\n\n".join(parts)


def render_demo_json(run: DemoRun) -> str:
    from kmsguard.report.json_report import finding_to_json


    out: dict[str, Any] = {
        "account": DEMO_ACCOUNT,
        "org_id": DEMO_ORG,
        "policies": [finding_to_json(f) for f in run.policies],
        "iac": {"files_scanned": run.iac_files, "findings": [finding_to_json(f) for f in run.iac]},
        "usage": run.usage.to_dict(),
        "fix": run.fix.to_json(),
    }
    return json.dumps(out, indent=2)


@click.command()
@format_option(["text", "json"])
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the full demo writes dashboard.html, report.json and its other files "
    "(default: a new folder under the temporary directory).",
)
@click.option(
    "--bundled",
    is_flag=True,
    help="Only the part on bundled files (no local AWS stand-in).",
)
def demo(fmt: str, output_dir: Path | None, bundled: bool) -> int:
    """The whole product on a local stand-in estate: no AWS account needed.

    \b
    With the demo extra (`pip install 'kmsguard[demo]'`; `make demo` installs it), a moto
    server on 127.0.0.1 holds two accounts, three regions and 40 keys, and the demo runs
    scan aws --record, scan iac --record, usage, fix plan + fix apply, monitor replay, a
    second scan and report; it writes DIR/dashboard.html and DIR/report.json.

    \b
    Without the extra (or with --bundled) it runs the part on bundled files (account
    111122223333, org o-a1b2c3d4e5):
    1. key policies: what `kmsguard check` says about 8 example policies;
    2. infrastructure as code: `kmsguard scan iac` on a CloudFormation template and a
       Terraform module;
    3. who uses the key of the quick-fix policy: `kmsguard usage` on a bundled
       CloudTrail log tree;
    4. a verified fix: `kmsguard fix plan --policy ... --usage ...` for that key.

    \b
    --format json prints one object. Bundled part: `policies` (as `kmsguard check
    --format json`), `iac` (`files_scanned`, `findings` as `kmsguard scan iac --format
    json`), `usage` (as `kmsguard usage --format json`) and `fix` (as `kmsguard fix plan
    --format json`). Full demo: `output_dir` and `report` (as report.json).

    \b
    Examples:
      kmsguard demo
      kmsguard demo --bundled --format json
    """
    from kmsguard.demo.server import available

    folder = resources.files("kmsguard").joinpath("demo")
    if not bundled and available():
        return _live(folder, fmt, output_dir)
    with resources.as_file(folder) as base:
        run = run_demo(base)
        if fmt == "json":
            text = render_demo_json(run)
        else:
            text = render_demo_text(run, base, color=sys.stdout.isatty())
    click.echo(text)
    if not bundled:
        click.echo(
            "\nThe full demo (scan aws, fix apply, monitor replay, KPIs and an HTML dashboard "
            "on a local AWS stand-in) needs the demo extra: pip install 'kmsguard[demo]' "
            "(`make demo` installs it).",
            err=True,
        )
    return ExitCode.OK


def _live(folder: Any, fmt: str, output_dir: Path | None) -> int:
    from kmsguard.demo.live import run_live

    if output_dir is None:
        output_dir = Path(tempfile.mkdtemp(prefix="kmsguard-demo-"))

    def progress(text: str) -> None:
        click.echo(text, err=True)

    with resources.as_file(folder) as base:
        run = run_live(base, output_dir, progress)
    if fmt == "json":
        click.echo(json.dumps({"output_dir": str(output_dir), "report": run.report}, indent=2))
    else:
        click.echo("\n\n".join(run.sections))
        click.echo(
            f"\ndashboard: {output_dir / 'dashboard.html'}\nreport:    "
            f"{output_dir / 'report.json'}\n(open the dashboard in a browser; it needs no "
            "network)"
        )
    progress(f"done in {run.seconds:.1f} s; the local AWS stand-in is stopped")
    return ExitCode.OK
