"""Command-line entry point: the only place that prints or exits.

Each subcommand lives in its own module and is imported only when it is run, so
`kmsguard check` never pays for boto3 or DuckDB.
"""

from __future__ import annotations

import os
import sys

import click

from kmsguard import __version__
from kmsguard.errors import ExitCode, KmsguardError

from .common import echo_error
from .configured import ConfiguredGroup
from .lazy import examples_last

_COMMANDS = {
    "check": "kmsguard.cli.check:check",
    "demo": "kmsguard.cli.demo:demo",
    "scan": "kmsguard.cli.scan:scan",
    "usage": "kmsguard.cli.usage:usage",
    "fix": "kmsguard.cli.fix:fix",
    "monitor": "kmsguard.cli.monitor:monitor",
    "report": "kmsguard.cli.report:report",
    "config": "kmsguard.cli.config_cmd:config",
}


@click.group(
    cls=ConfiguredGroup,
    lazy=_COMMANDS,
    sections={"fix": "fix"},  # its subcommands have no --config: KMSGUARD_CONFIG or discovery
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="kmsguard")
def cli() -> None:
    """Find, explain, fix and prevent exposed AWS KMS keys.

    \b
    kmsguard check POLICY...      judge key policy files
    kmsguard scan iac PATH...     judge CloudFormation / Terraform before deployment
    kmsguard scan aws             judge every key of live AWS accounts and regions
    kmsguard usage SOURCE...      who used which key, from CloudTrail logs
    kmsguard fix plan|apply|rollback   least-privilege replacement policies
    kmsguard monitor sqs|replay   alert on KMS key changes from CloudTrail events
    kmsguard report               KPIs and dashboard from recorded runs (--record)
    kmsguard demo                 run on bundled examples (no AWS account needed)
    kmsguard config show          the settings in force and where each came from

    \b
    Examples:
      kmsguard check --account 123456789012 policy.json
      kmsguard scan iac . --baseline .kmsguard-baseline.json
      eval "$(_KMSGUARD_COMPLETE=bash_source kmsguard)"   # shell completion (bash)
    """


examples_last(cli)


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="kmsguard", standalone_mode=False)
    except click.exceptions.Abort:
        echo_error("aborted")
        sys.exit(ExitCode.INTERNAL)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE)
    except KmsguardError as exc:
        echo_error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        echo_error("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line, the traceback only on request
        if os.environ.get("KMSGUARD_DEBUG"):
            raise
        echo_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in kmsguard; run again with KMSGUARD_DEBUG=1 to see the traceback",
        )
        sys.exit(ExitCode.INTERNAL)
    sys.exit(int(rv) if isinstance(rv, int) else 0)
