"""Commands that start from the config file: `ConfiguredCommand` finds and reads it before
click parses the flags, and hands its values to click as `default_map`, so that a flag and
an option's `KMSGUARD_*` environment variable still win over it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kmsguard.errors import InputError

from . import settings
from .lazy import LazyGroup

F = TypeVar("F", bound=Callable[..., Any])
META = "kmsguard.config"
#: kmsguard.store.database.DB_ENV (not imported: it would load SQLAlchemy for `check`)
DB_ENV = "KMSGUARD_DB"


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


def read_config(explicit: str | None, section: str, *, lenient: bool) -> settings.FileConfig:
    """The config file in force for a command of `section` (an empty one when there is
    none, or when it is broken and `lenient`: --help and completion still work)."""
    try:
        path = settings.locate(explicit)
        loaded = settings.load(path) if path is not None else settings.FileConfig()
        if loaded.legacy and section != "iac":
            raise InputError(
                f"`{path}` is a YAML/JSON suppressions file; `--config` takes a "
                f"{settings.CONFIG_NAME} file",
                hint="see docs/ci.md for the config file format",
            )
    except InputError:
        if not lenient:
            raise
        loaded = settings.FileConfig()
    return loaded


def command_defaults(loaded: settings.FileConfig, section: str) -> dict[str, Any]:
    """The file's defaults for a command of `section`. `--db` has no click envvar (the
    store reads KMSGUARD_DB when it gets no URL), so the file's `db` gives way to it here:
    flag > environment > file > default, as for every other setting."""
    defaults = dict(loaded.defaults.get(section, {}))
    if os.environ.get(DB_ENV):
        defaults.pop("db_url", None)
    return defaults


def _lenient(ctx: click.Context, args: list[str]) -> bool:
    return ctx.resilient_parsing or any(a in ("-h", "--help") for a in args)


class ConfiguredCommand(click.Command):
    """A command whose option defaults come from the `[section]` of the config file."""

    def __init__(self, *args: Any, section: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        loaded = read_config(_peek_config(args), self.section, lenient=_lenient(ctx, args))
        ctx.default_map = {**(ctx.default_map or {}), **command_defaults(loaded, self.section)}
        ctx.meta[META] = loaded
        return super().parse_args(ctx, args)


class _SameForEach(dict[str, Any]):
    """A default map whose every subcommand gets the same defaults."""

    def __init__(self, defaults: dict[str, Any]) -> None:
        super().__init__()
        self.defaults = defaults

    def get(self, _name: str, _default: Any = None) -> Any:
        return self.defaults


class ConfiguredGroup(LazyGroup):
    """The root group: for the command groups in `sections` (e.g. `fix`, whose
    subcommands take no `--config`), the file found through KMSGUARD_CONFIG or discovery
    gives every subcommand the defaults of its section."""

    def __init__(self, *args: Any, sections: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections = sections

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        name = next((a for a in args if not a.startswith("-")), None)
        section = self.sections.get(name or "")
        if name and section:
            loaded = read_config(None, section, lenient=_lenient(ctx, args))
            ctx.default_map = {name: _SameForEach(command_defaults(loaded, section))}
            ctx.meta[META] = loaded
        return rest


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
