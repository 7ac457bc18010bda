"""Commands that start from the config file: `ConfiguredCommand` finds and reads it before
click parses the flags, and hands its values to click as `default_map`, so that a flag and
an option's `KMSGUARD_*` environment variable still win over it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kmsguard.errors import InputError

from . import settings

F = TypeVar("F", bound=Callable[..., Any])
META = "kmsguard.config"


def _peek_config(args: list[str]) -> str | None:
    """`--config FILE` / `--config=FILE` among the arguments, before click parses them."""
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--config" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


class ConfiguredCommand(click.Command):
    """A command whose option defaults come from the `[section]` of the config file."""

    def __init__(self, *args: Any, section: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        lenient = ctx.resilient_parsing or any(a in ("-h", "--help") for a in args)
        try:
            path = settings.locate(_peek_config(args))
            loaded = settings.load(path) if path is not None else settings.FileConfig()
            if loaded.legacy and self.section != "iac":
                raise InputError(
                    f"`{path}` is a YAML/JSON suppressions file; `--config` takes a "
                    f"{settings.CONFIG_NAME} file",
                    hint="see docs/ci.md for the config file format",
                )
        except InputError:
            if not lenient:
                raise
            loaded = settings.FileConfig()
        ctx.default_map = {**(ctx.default_map or {}), **loaded.defaults.get(self.section, {})}
        ctx.meta[META] = loaded
        return super().parse_args(ctx, args)


def loaded_config(ctx: click.Context | None = None) -> settings.FileConfig:
    ctx = ctx or click.get_current_context()
    found = ctx.meta.get(META)
    return found if isinstance(found, settings.FileConfig) else settings.FileConfig()


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        metavar="FILE",
        expose_value=False,
        help=(
            f"The config file (default: KMSGUARD_CONFIG, else {settings.CONFIG_NAME} or "
            "[tool.kmsguard] in pyproject.toml, from here up to the repository root)."
        ),
    )(f)
