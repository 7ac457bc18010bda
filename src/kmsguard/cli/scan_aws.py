"""`kmsguard scan` subcommand (placeholder until implemented)."""

import click


@click.command(name="aws")
def scan_aws() -> None:
    """Not implemented yet."""
    raise click.UsageError("not implemented yet")
