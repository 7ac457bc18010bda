"""A click group whose subcommands are imported only when they are run."""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    """`lazy` maps a command name to "module:attribute"."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return examples_last(command)


def examples_last(command: click.Command) -> click.Command:
    """Move the `Examples:` block of a command's docstring (and of its subcommands') to
    the epilog, so that `--help` ends with them, after the options."""
    if command.help and "Examples:" in command.help and not command.epilog:
        head, _, examples = command.help.partition("Examples:")
        command.help = head.rstrip().removesuffix("\b").rstrip()
        lines = [line.strip() for line in examples.strip().splitlines() if line.strip()]
        command.epilog = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
    if isinstance(command, click.Group) and not isinstance(command, LazyGroup):
        for sub in command.commands.values():
            examples_last(sub)
    return command
