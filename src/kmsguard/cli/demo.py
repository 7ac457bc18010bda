"""`kmsguard demo`: the main job on bundled examples, no AWS account needed."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

import click

from kmsguard.errors import ExitCode

from .check import judge_inputs, render
from .common import build_zone

DEMO_ACCOUNT = "111122223333"
DEMO_ORG = "o-a1b2c3d4e5"


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def demo(fmt: str) -> int:
    """Judge the bundled example key policies (account 111122223333, org o-a1b2c3d4e5).

    Runs what `kmsguard check` would on real policies; exits 0 whatever it finds.
    """
    folder = resources.files("kmsguard").joinpath("demo/policies")
    with resources.as_file(folder) as path:
        zone = build_zone(DEMO_ACCOUNT, DEMO_ORG)
        here = Path.cwd()
        os.chdir(path)  # report the example names, not the install location
        try:
            findings, _ = judge_inputs((".",), zone)
        finally:
            os.chdir(here)
    if fmt == "text":
        click.echo(
            f"kmsguard demo: judging {len(findings)} example key policies of account "
            f"{DEMO_ACCOUNT} (organization {DEMO_ORG})\n"
        )
    click.echo(render(findings, fmt, color=sys.stdout.isatty()))
    if fmt == "text":
        click.echo(
            "Next: `kmsguard check --account ID --org-id ORG POLICY.json`, "
            "`kmsguard scan iac .`, `kmsguard scan aws`, `kmsguard usage LOGS/`, "
            "`kmsguard fix plan --help`."
        )
    return ExitCode.OK
