"""`kmsguard demo` (placeholder until implemented)."""

import click


@click.command()
def demo() -> None:
    """Not implemented yet."""
    raise click.UsageError("`demo` is not implemented yet")
