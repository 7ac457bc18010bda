"""`kmsguard fix` (placeholder until implemented)."""

import click


@click.group()
def fix() -> None:
    """Not implemented yet."""
