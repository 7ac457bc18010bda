"""`kmsguard config show`: the settings each command starts from, and where each came from
(a flag is not among them: this shows what a command gets before its own flags)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from . import settings
from .common import format_option
from .configured import ConfiguredCommand, config_option, loaded_config
from .terminal import fit

_COMMANDS = {
    "check": ("kmsguard.cli.check", "check"),
    "iac": ("kmsguard.cli.scan_iac", "scan_iac"),
    "aws": ("kmsguard.cli.scan_aws", "scan_aws"),
}
_TITLES = {"check": "kmsguard check", "iac": "kmsguard scan iac", "aws": "kmsguard scan aws"}


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


def effective(section: str, explicit: str | None) -> dict[str, dict[str, Any]]:
    """Each setting of the command behind `section`: its value and its source."""
    import importlib

    module, attr = _COMMANDS[section]
    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, ConfiguredCommand)
    args = ["--config", explicit] if explicit else []
    ctx = command.make_context(_TITLES[section], args, resilient_parsing=True)
    loaded = loaded_config(ctx)
    params = {p.name: p for p in command.params if p.name}
    out: dict[str, dict[str, Any]] = {}
    for param, key in _keys(section).items():
        if param not in params or param == "exclude":  # the file's excludes add up: below
            continue
        source = ctx.get_parameter_source(param)
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
    """Print the effective settings of check, scan iac and scan aws, and where each came
    from: the config file (with its line), an environment variable, or the default.

    \b
    Examples:
      kmsguard config show
      kmsguard config show --config ci/kmsguard.toml --format json
      KMSGUARD_FAIL_ON=high kmsguard config show
    """
    loaded = loaded_config()
    explicit = str(loaded.path) if loaded.path else None
    report = {s: effective(s, explicit) for s in _COMMANDS}
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
