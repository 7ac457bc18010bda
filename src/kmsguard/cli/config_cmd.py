"""`kmsguard config show`: the settings each command starts from, and where each came from
(a flag is not among them: this shows what a command gets before its own flags)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from . import settings
from .common import format_option
from .configured import (
    DB_ENV,
    ConfiguredCommand,
    command_defaults,
    config_option,
    loaded_config,
)
from .terminal import fit

#: section -> the command shown for it (module, attribute, subcommand of a group)
_COMMANDS = {
    "check": ("kmsguard.cli.check", "check", None),
    "iac": ("kmsguard.cli.scan_iac", "scan_iac", None),
    "aws": ("kmsguard.cli.scan_aws", "scan_aws", None),
    "usage": ("kmsguard.cli.usage", "usage", None),
    "fix": ("kmsguard.cli.fix", "fix", "apply"),
    "monitor": ("kmsguard.cli.monitor", "monitor", "sqs"),
    "report": ("kmsguard.cli.report", "report", None),
}
_TITLES = {
    "check": "kmsguard check",
    "iac": "kmsguard scan iac",
    "aws": "kmsguard scan aws",
    "usage": "kmsguard usage",
    "fix": "kmsguard fix plan|apply|rollback|history",
    "monitor": "kmsguard monitor sqs|replay",
    "report": "kmsguard report",
}


@click.group()
def config() -> None:
    """The config file (.kmsguard.toml, or [tool.kmsguard] in pyproject.toml).

    \b
    Examples:
      kmsguard config show
      kmsguard config show --format json
    """


def _keys(section: str) -> dict[str, str]:
    """param -> the key that sets it in the file."""
    out = {s.param: key for key, s in settings.TOP.items() if section in s.commands}
    out.update({s.param: key for key, s in settings.SECTIONS[section].items()})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _command(section: str) -> click.Command:
    import importlib

    module, attr, sub = _COMMANDS[section]
    command = getattr(importlib.import_module(module), attr)
    if sub is not None:
        assert isinstance(command, click.Group)
        command = command.commands[sub]
    assert isinstance(command, click.Command)
    return command


def effective(
    section: str, explicit: str | None, loaded: settings.FileConfig
) -> dict[str, dict[str, Any]]:
    """Each setting of the command behind `section`: its value and its source."""
    command = _command(section)
    if isinstance(command, ConfiguredCommand):  # it reads the file itself
        args = ["--config", explicit] if explicit else []
        ctx = command.make_context(_TITLES[section], args, resilient_parsing=True)
        loaded = loaded_config(ctx)
    else:  # as the root group hands the file's section to it
        defaults = command_defaults(loaded, section)
        ctx = command.make_context(
            _TITLES[section], [], resilient_parsing=True, default_map=defaults
        )
    params = {p.name: p for p in command.params if p.name}
    out: dict[str, dict[str, Any]] = {}
    for param, key in _keys(section).items():
        if param not in params or param == "exclude":  # the file's excludes add up: below
            continue
        source = ctx.get_parameter_source(param)
        if param == "db_url" and source is not ParameterSource.DEFAULT_MAP and os.environ.get(
            DB_ENV
        ):  # the store reads it; its value may hold a password: not shown
            out[key] = {"value": f"${DB_ENV}", "from": f"environment {DB_ENV}"}
            continue
        if source is ParameterSource.ENVIRONMENT:
            envvar = params[param].envvar
            where = f"environment {envvar}"
        elif source is ParameterSource.DEFAULT_MAP:
            where = loaded.where.get((section, param), str(loaded.path))
        else:
            where = "default"
        out[key] = {"value": _plain(ctx.params.get(param)), "from": where}
    if section == "iac":
        where = str(loaded.path) if loaded.path else "default"
        out["exclude (added to --exclude)"] = {"value": list(loaded.iac.exclude), "from": where}
        out["suppressions"] = {
            "value": [
                {
                    "rules": list(s.rules),
                    "resource": s.resource,
                    "file": s.file,
                    "reason": s.reason,
                    "expires": s.expires.isoformat() if s.expires else None,
                }
                for s in loaded.iac.suppressions
            ],
            "from": where,
        }
    return out


@config.command(name="show", cls=ConfiguredCommand, section="check")
@config_option
@format_option(["text", "json"], "text for people, json for scripts.")
def show(fmt: str) -> int:
    """Print the effective settings of every command (check, scan iac, scan aws, usage,
    fix, monitor, report), and where each came from: the config file (with its line), an
    environment variable, or the default.

    \b
    Examples:
      kmsguard config show
      kmsguard config show --config ci/kmsguard.toml --format json
      KMSGUARD_FAIL_ON=high kmsguard config show
    """
    loaded = loaded_config()
    explicit = str(loaded.path) if loaded.path else None
    report = {s: effective(s, explicit, loaded) for s in _COMMANDS}
    if fmt == "json":
        click.echo(json.dumps({"file": explicit, "commands": report}, indent=2))
        return 0
    lines = [f"config file: {explicit or 'none found'}"]
    for section, values in report.items():
        lines.append("")
        lines.append(f"[{section}]  ({_TITLES[section]})")
        for key, entry in values.items():
            value = entry["value"]
            if key == "suppressions":
                text = f"{len(value)} rule(s)"
            else:
                text = json.dumps(value) if value not in (None, [], ()) else "-"
            lines.append(fit(f"  {key} = {text}    # {entry['from']}"))
    click.echo("\n".join(lines))
    return 0
