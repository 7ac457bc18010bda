"""`kmsguard scan` subcommand (placeholder until implemented)."""

import click


@click.command(name="iac")
def scan_iac() -> None:
    """Not implemented yet."""
    raise click.UsageError("not implemented yet")
