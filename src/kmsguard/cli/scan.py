"""`kmsguard scan`: the group of live and IaC scanners."""

from __future__ import annotations

import click

from .lazy import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={"iac": "kmsguard.cli.scan_iac:scan_iac", "aws": "kmsguard.cli.scan_aws:scan_aws"},
)
def scan() -> None:
    """Scan infrastructure-as-code or live AWS for exposed KMS keys.

    \b
    Examples:
      kmsguard scan iac . --format sarif -o kmsguard.sarif
      kmsguard scan aws --region eu-west-1
    """
