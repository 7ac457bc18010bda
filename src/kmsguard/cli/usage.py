"""`kmsguard usage` (placeholder until implemented)."""

import click


@click.command()
def usage() -> None:
    """Not implemented yet."""
    raise click.UsageError("`usage` is not implemented yet")
