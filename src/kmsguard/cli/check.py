"""`kmsguard check` (placeholder until implemented)."""

import click


@click.command()
def check() -> None:
    """Not implemented yet."""
    raise click.UsageError("`check` is not implemented yet")
