"""Options and helpers shared by the subcommands: zone of trust, --fail-on, output."""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from kmsguard.errors import ExitCode, InputError
from kmsguard.model import Severity, ZoneSpec
from kmsguard.report.escape import terminal_message

F = TypeVar("F", bound=Callable[..., Any])

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ORG_RE = re.compile(r"^o-[a-z0-9]{10,32}$")


def _color() -> bool | None:
    """False when NO_COLOR is set (https://no-color.org); otherwise click decides."""
    return False if os.environ.get("NO_COLOR") else None


def echo_error(message: str, hint: str | None = None) -> None:
    click.secho(f"error: {terminal_message(message)}", fg="red", err=True, color=_color())
    if hint:
        click.echo(f"  hint: {terminal_message(hint)}", err=True)


def echo_note(message: str) -> None:
    from .terminal import fit

    click.echo(fit(message), err=True)


def echo_warning(message: str) -> None:
    from .terminal import fit

    click.secho(
        fit(f"warning: {terminal_message(message)}"), fg="yellow", err=True, color=_color()
    )


def _account(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if v is not None and not _ACCOUNT_RE.match(v):
            raise click.BadParameter(f"`{v}` is not a 12-digit AWS account id", param=param)
    return value


def _org(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if v is not None and not _ORG_RE.match(v):
            raise click.BadParameter(
                f"`{v}` is not an organization id (o- followed by 10-32 letters/digits)",
                param=param,
            )
    return value


def gathered(f: F, name: str, cls: Callable[..., Any]) -> F:
    """`f`, called with the options named as the dataclass `cls`'s fields gathered into one
    `cls` value, passed as `name` (for options that always travel together)."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]  # a dataclass

    @functools.wraps(f)
    def command(**options: Any) -> Any:
        value = cls(**{n: options.pop(n) for n in names})
        return f(**{name: value}, **options)

    return cast(F, command)


def trusted_options(*, from_env: bool = True) -> Callable[[F], F]:
    """--trusted-account, --trusted-org, --trusted-ou-path (also read from the environment
    unless not `from_env`)."""

    def env(name: str) -> str | None:
        return name if from_env else None

    decorators = [
        click.option(
            "--trusted-account",
            "trusted_accounts",
            multiple=True,
            callback=_account,
            envvar=env("KMSGUARD_TRUSTED_ACCOUNTS"),
            help="An outside account that is trusted (repeatable).",
        ),
        click.option(
            "--trusted-org",
            "trusted_orgs",
            multiple=True,
            callback=_org,
            envvar=env("KMSGUARD_TRUSTED_ORGS"),
            help="A trusted organization id (repeatable).",
        ),
        click.option(
            "--trusted-ou-path",
            "trusted_ou_paths",
            multiple=True,
            envvar=env("KMSGUARD_TRUSTED_OU_PATHS"),
            help="A trusted OU path prefix, e.g. o-abc/r-ab12/ou-ab12-3456/ (repeatable).",
        ),
    ]

    def apply(f: F) -> F:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def zone_options(f: F) -> F:
    """--account, --org-id, --trusted-account, --trusted-org, --trusted-ou-path, handed to
    the command as one `zone: ZoneSpec`."""

    wrapped = trusted_options()(gathered(f, "zone", ZoneSpec))
    wrapped = click.option(
        "--org-id",
        callback=_org,
        envvar="KMSGUARD_ORG_ID",
        help="The owner's organization id; its members are inside the zone of trust.",
    )(wrapped)
    return click.option(
        "--account",
        callback=_account,
        envvar="KMSGUARD_ACCOUNT",
        help="The key owner's account id (default: symbolic 'own account').",
    )(wrapped)


def format_option(choices: Iterable[str], description: str | None = None) -> Callable[[F], F]:
    """--format FMT, one of `choices`, default text."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default="text",
        show_default=True,
        help=description,
    )


SEVERITY_CHOICES = [s.value for s in Severity if s is not Severity.NONE]


def fail_on_option(f: F) -> F:
    return click.option(
        "--fail-on",
        type=click.Choice(SEVERITY_CHOICES),
        default="low",
        show_default=True,
        envvar="KMSGUARD_FAIL_ON",
        help="Exit 3 when a finding is at or above this severity.",
    )(f)


class Deadline(click.ParamType[float]):
    """Seconds (at least 1), or `0` / `none` for no limit (returned as 0.0)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("none", "0", "0.0"):
            return 0.0
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"`{value}` is not a number of seconds, or 0 / none for no limit", param)
        if seconds == 0:
            return 0.0
        if not math.isfinite(seconds) or seconds < 1:
            self.fail(f"`{value}`: give at least 1 second, or 0 / none for no limit", param)
        return seconds


def deadline_option(default: float | None, what: str) -> Callable[[F], F]:
    """--deadline SECONDS|none: `default` when not given (None: no default limit)."""
    shown = f"default {default:g} s; " if default else ""
    return click.option(
        "--deadline",
        type=Deadline(),
        default=default,
        metavar="SECONDS|none",
        help=f"Stop after this long: {what} ({shown}0 or none: no limit).",
    )


def output_option(f: F) -> F:
    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        help="Write the report to FILE instead of standard output.",
    )(f)


def write_output(text: str, output: Path | None) -> None:
    """The report to standard output, or to `output` (a clear input error if it cannot)."""
    if not text.endswith("\n"):
        text += "\n"
    # a lone surrogate (from a JSON escape in the input) cannot be encoded: show it escaped
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the report to `{output}`: {exc.strerror}",
            hint="check that the folder exists and is writable",
        ) from None


def aws_session(profile: str | None) -> Any:
    """A boto3 session for `--profile` (or the default chain); it honours AWS_ENDPOINT_URL."""
    from kmsguard.aws.session import open_session

    return open_session(profile)


def exit_code_for(
    severities: Iterable[Severity], fail_on: str, *, input_errors: bool, incomplete: bool = False
) -> ExitCode:
    """2 (input error) wins over 3 (findings), which wins over 4 (incomplete)."""
    if input_errors:
        return ExitCode.USAGE
    threshold = Severity(fail_on)
    if any(s is not Severity.NONE and s.at_least(threshold) for s in severities):
        return ExitCode.FINDINGS
    if incomplete:
        return ExitCode.INCOMPLETE
    return ExitCode.OK


def warn_no_account() -> None:
    """Said once per run, when no owner account is known."""
    echo_warning(
        "no owner account given (--account, KMSGUARD_ACCOUNT or `account` in .kmsguard.toml): "
        "each policy's owner is read from its administrator statement, and a policy that "
        "names no administrator has an unknown owner, so every account it names is judged as "
        "outside"
    )


def announce_config(log: Any) -> None:
    """With --verbose: which config file is in force."""
    from .configured import loaded_config

    path = loaded_config().path
    log.info(f"config file: {path}" if path else "config file: none found")


def source_root(paths: Iterable[Path | str], base_dir: Path | None) -> Path:
    """The folder SARIF paths and fingerprints are relative to: `--base-dir`, else the git
    top level of the first path (or of the working directory), else the working directory."""
    from .settings import repository_root

    if base_dir is not None:
        return base_dir.resolve()
    for p in paths:
        path = Path(p)
        if str(p) == "-" or not path.exists():
            continue
        root = repository_root(path if path.is_dir() else path.parent)
        if root is not None:
            return root
        break
    return repository_root(Path.cwd()) or Path.cwd().resolve()
