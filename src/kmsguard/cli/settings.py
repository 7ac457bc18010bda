"""The config file: found automatically, read with tomllib, validated with the file, line and
key of every problem, and turned into the defaults each command starts from.

Precedence is click's own: a flag, then the option's environment variable (`KMSGUARD_*`),
then the config file (`Context.default_map`), then the option's default.

Where the file is: `--config FILE`, else `KMSGUARD_CONFIG`, else the first `.kmsguard.toml`
(or `pyproject.toml` with a `[tool.kmsguard]` table) from the working directory up to the
repository root (the folder holding `.git`); outside a repository only the working directory
is looked at.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmsguard.errors import InputError
from kmsguard.iac.suppressions import Config as IacConfig
from kmsguard.iac.suppressions import Suppression, load_config, suppression_from
from kmsguard.model import Severity

CONFIG_NAME = ".kmsguard.toml"
ENV_CONFIG = "KMSGUARD_CONFIG"
PYPROJECT_TABLE = "tool.kmsguard"

#: The commands a config file configures, by section name (`fix` covers plan, apply,
#: rollback and history; `monitor` covers sqs and replay).
COMMANDS = ("check", "iac", "aws", "usage", "fix", "monitor", "report")
#: Commands of the zone of trust and of the history store.
_ZONE = ("check", "iac", "aws", "usage", "fix", "monitor")
_HISTORY = ("iac", "aws", "fix", "monitor")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ORG_RE = re.compile(r"^o-[a-z0-9]{10,32}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_SEVERITIES = [s.value for s in Severity if s is not Severity.NONE]
FORMATS = {
    "check": ("text", "json", "sarif"),
    "iac": ("text", "json", "sarif", "junit"),
    "aws": ("text", "json", "sarif", "csv", "asff"),
    "usage": ("text", "json", "csv"),
    "fix": ("text", "json"),
    "report": ("text", "json", "html"),
}
#: Keys that would put a secret in a file that is committed: refused with the way to pass
#: the value instead.
SECRETS = {
    "webhook-url": "a webhook URL is a credential: pass --webhook-url, e.g. from a CI secret",
    "webhook-urls": "a webhook URL is a credential: pass --webhook-url, e.g. from a CI secret",
    "password": "passwords do not belong in the config file",
    "aws-access-key-id": "AWS credentials come from the environment or a profile",
    "aws-secret-access-key": "AWS credentials come from the environment or a profile",
}

Check = Callable[[Any, Path], tuple[Any, str | None]]  # (value, problem)


def _string(pattern: re.Pattern[str] | None, what: str) -> Check:
    def check(v: Any, _base: Path) -> tuple[Any, str | None]:
        if not isinstance(v, str):
            return None, f"must be a string (in quotes), e.g. {what}"
        if pattern is not None and not pattern.match(v):
            return None, f"`{v}` is not {what}"
        return v, None

    return check


def _list(item: Check) -> Check:
    def check(v: Any, base: Path) -> tuple[Any, str | None]:
        values = [v] if isinstance(v, str) else v
        if not isinstance(values, list):
            return None, "must be a list of strings"
        out = []
        for x in values:
            value, problem = item(x, base)
            if problem:
                return None, problem
            out.append(value)
        return tuple(out), None

    return check


def _choice(choices: Sequence[str]) -> Check:
    def check(v: Any, _base: Path) -> tuple[Any, str | None]:
        if v not in choices:
            return None, f"must be one of {', '.join(choices)} (got `{v}`)"
        return v, None

    return check


def _path(v: Any, base: Path) -> tuple[Any, str | None]:
    if not isinstance(v, str) or not v:
        return None, "must be a path (a string)"
    return base / v, None  # relative to the config file's folder


def _number(low: float, high: float, *, integer: bool = False) -> Check:
    def check(v: Any, _base: Path) -> tuple[Any, str | None]:
        ok = isinstance(v, int) if integer else isinstance(v, int | float)
        if not ok or isinstance(v, bool) or not low <= v <= high:
            kind = "a whole number" if integer else "a number"
            return None, f"must be {kind} from {low:g} to {high:g}"
        return v, None

    return check


def _bool(v: Any, _base: Path) -> tuple[Any, str | None]:
    return (v, None) if isinstance(v, bool) else (None, "must be true or false")


def _db(v: Any, base: Path) -> tuple[Any, str | None]:
    """A database URL without a password (the file is committed; the password goes in
    KMSGUARD_DB, PGPASSWORD or ~/.pgpass). A relative SQLite file is relative to the
    config file's folder, like every path in it."""
    if not isinstance(v, str) or not v:
        return None, 'must be a database URL (a string), e.g. "sqlite:////var/lib/kmsguard.db"'
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(v)
    except ArgumentError:
        return None, f"`{v}` is not a database URL, e.g. postgresql+psycopg://user@host/db"
    if url.password is not None or "password=" in v.lower():
        return None, (
            "holds a password, which does not belong in the config file: set the whole URL "
            "in KMSGUARD_DB (a CI secret), or the password in PGPASSWORD or ~/.pgpass"
        )
    file = url.database or ":memory:"
    relative = not file.startswith((":memory:", "file:")) and not Path(file).is_absolute()
    if url.drivername.startswith("sqlite") and relative:
        return url.set(database=str(base / file)).render_as_string(False), None
    return v, None


def _deadline(v: Any, _base: Path) -> tuple[Any, str | None]:
    """Seconds (at least 1), or 0 / "none" for no limit."""
    if v == "none" or (v == 0 and not isinstance(v, bool)):
        return "none", None
    if isinstance(v, int | float) and not isinstance(v, bool) and v >= 1:
        return v, None
    return None, 'must be a number of seconds (at least 1), or 0 / "none" for no limit'


def _source(v: Any, _base: Path) -> tuple[Any, str | None]:
    """A CloudTrail source: an s3:// URL as it is, a folder relative to the file's."""
    if not isinstance(v, str) or not v:
        return None, 'must be a folder or an s3:// URL, e.g. "s3://trail-bucket/AWSLogs/"'
    return (v if v.startswith("s3://") else str(_base / v)), None


ACCOUNT = _string(_ACCOUNT_RE, 'a 12-digit account id, e.g. "123456789012"')
ORG = _string(_ORG_RE, 'an organization id, e.g. "o-abcdefghij"')
REGION = _string(_REGION_RE, 'a region name, e.g. "eu-west-1"')
TEXT = _string(None, "a string")
WINDOW = _string(None, '"90d", "12h" or a date, e.g. "2026-11-01"')


@dataclass(frozen=True, slots=True)
class Setting:
    param: str  # the click parameter's name
    check: Check
    commands: tuple[str, ...] = COMMANDS
    doc: str = ""


#: Top-level keys: the zone of trust, the gate and the history store, for every command
#: that has them (a section's own key wins for its command).
TOP: dict[str, Setting] = {
    "account": Setting(
        "account", ACCOUNT, ("check", "iac", "usage", "fix"), "the key owner's account id"
    ),
    "org-id": Setting(
        "org_id", ORG, ("check", "iac", "aws", "fix", "monitor"), "the owner's organization id"
    ),
    "trusted-accounts": Setting("trusted_accounts", _list(ACCOUNT), _ZONE),
    "trusted-orgs": Setting("trusted_orgs", _list(ORG), ("check", "iac", "aws", "fix", "monitor")),
    "trusted-ou-paths": Setting(
        "trusted_ou_paths",
        _list(_string(None, '"o-abc/r-ab12/"')),
        ("check", "iac", "aws", "fix", "monitor"),
    ),
    "fail-on": Setting("fail_on", _choice(_SEVERITIES), ("check", "iac", "aws")),
    "db": Setting("db_url", _db, (*_HISTORY, "report"), "the history database (--db)"),
    "record": Setting("record", _bool, _HISTORY, "record runs in the history (--record)"),
}


def _section(
    command: str, common: tuple[str, ...] = ("fail-on", "format", "output"), **extra: Setting
) -> dict[str, Setting]:
    shared = {
        "fail-on": Setting("fail_on", _choice(_SEVERITIES), (command,)),
        "format": Setting("fmt", _choice(FORMATS.get(command, ())), (command,)),
        "output": Setting("output", _path, (command,)),
        "db": Setting("db_url", _db, (command,)),
        "record": Setting("record", _bool, (command,)),
    }
    return {
        **{k: shared[k] for k in common},
        **{k.replace("_", "-"): Setting(v.param, v.check, (command,)) for k, v in extra.items()},
    }


_S = Setting  # the sections below set `commands` through _section
SECTIONS: dict[str, dict[str, Setting]] = {
    "check": _section("check"),
    "iac": _section(
        "iac",
        ("fail-on", "format", "output", "record", "db"),
        exclude=_S("exclude", _list(_string(None, '"examples/*"'))),
        baseline=_S("baseline", _path),
        base_dir=_S("base_dir", _path),
        inline_suppressions=_S("inline_suppressions", _bool),
        max_file_size=_S("max_file_size", _number(0.001, 1024)),
        # [[iac.suppressions]] are read separately: they are not an option
    ),
    "aws": _section(
        "aws",
        ("fail-on", "format", "output", "record", "db"),
        regions=_S("regions", _list(REGION)),
        role=_S("role_name", _string(None, '"kmsguard-scanner"')),
        org=_S("org", _bool),
        owner_tags=_S("owner_tags", _list(_string(None, '"owner"'))),
        max_rps=_S("max_rps", _number(0.1, 10_000)),
        workers=_S("workers", _number(1, 256, integer=True)),
        max_attempts=_S("max_attempts", _number(1, 20, integer=True)),
        timeout=_S("timeout", _number(0.1, 600)),
        deadline=_S("deadline", _deadline),
        profile=_S("profile", _string(None, '"prod-audit"')),
        security_hub=_S("security_hub", _bool),
    ),
    "usage": _section(
        "usage",
        ("format", "output"),
        sources=_S("sources", _list(_source)),
        since=_S("since", WINDOW),
        until=_S("until", WINDOW),
        engine=_S("engine", _choice(("local", "athena"))),
        table=_S("table", _string(None, '"cloudtrail.logs" (DATABASE.TABLE)')),
        workgroup=_S("workgroup", TEXT),
        output_location=_S("output_location", _string(None, '"s3://bucket/athena-results/"')),
        jobs=_S("jobs", _number(1, 64, integer=True)),
        region=_S("region", REGION),
        all_keys=_S("all_keys", _bool),
        max_log_size=_S("max_log_size", _number(0.001, 1_000_000)),
        deadline=_S("deadline", _deadline),
    ),
    "fix": _section(
        "fix",
        ("format", "record", "db"),
        cloudtrail=_S("cloudtrail", _list(_source)),
        since=_S("since", WINDOW),
        until=_S("until", WINDOW),
        strategy=_S("strategy", _choice(("principals", "account", "org"))),
        keep_external=_S("keep_external", _list(ACCOUNT)),
        backup_dir=_S("backup_dir", _path),
        profile=_S("profile", _string(None, '"prod-audit"')),
    ),
    "monitor": _section(
        "monitor",
        ("record", "db"),
        queue_url=_S("queue_url", _string(None, '"https://sqs.REGION.amazonaws.com/ACCOUNT/Q"')),
        batch_size=_S("batch_size", _number(1, 10, integer=True)),
        wait_seconds=_S("wait_seconds", _number(0, 20, integer=True)),
        owner_tag_keys=_S("owner_tag_keys", _list(_string(None, '"owner"'))),
        dynamodb_table=_S("dynamodb_table", TEXT),
        sns_topic_arn=_S("sns_topic_arn", _string(None, '"arn:aws:sns:REGION:ACCOUNT:topic"')),
        webhook_timeout=_S("webhook_timeout", _number(0.1, 60)),
        remediate=_S("remediate", _bool),
        backup_dir=_S("backup_dir", _path),
        profile=_S("profile", _string(None, '"prod-audit"')),
        region=_S("region", REGION),
        log_level=_S("log_level", _choice(("debug", "info", "warning", "error"))),
    ),
    "report": _section("report", ("format", "output", "db"), since=_S("since", WINDOW)),
}


@dataclass(frozen=True, slots=True)
class FileConfig:
    """What a config file says: the defaults of each command's options, where each was
    set (for `config show` and errors), and the IaC suppressions and excludes."""

    path: Path | None = None
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # command -> param
    where: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (command, param)
    iac: IacConfig = field(default_factory=IacConfig)
    legacy: bool = False  # a YAML/JSON suppressions file given to `scan iac --config`


# -- finding the file ---------------------------------------------------------------------


def repository_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds `.git` (a folder, or a file in a
    worktree or submodule)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _has_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r"^\s*\[tool\.kmsguard(\]|\.)", text, re.MULTILINE) is not None


def discover(cwd: Path | None = None) -> Path | None:
    here = (cwd or Path.cwd()).resolve()
    root = repository_root(here)
    folders = [here] if root is None else [here, *here.parents]
    for folder in folders:
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
        if (folder / "pyproject.toml").is_file() and _has_table(folder / "pyproject.toml"):
            return folder / "pyproject.toml"
        if root is not None and folder == root:
            break
    return None


def locate(explicit: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file in force: the flag, the environment variable, or discovery."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return discover()


# -- reading it ---------------------------------------------------------------------------


def _key_lines(text: str, prefix: str) -> dict[tuple[str, int, str], int]:
    """(table, index among same-named array tables, key) -> line, for error messages."""
    lines: dict[tuple[str, int, str], int] = {}
    table, index = "", 0
    counts: dict[str, int] = {}
    header = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
    key = re.compile(r"^\s*([\"']?)([A-Za-z0-9_.-]+)\1\s*=")
    for n, line in enumerate(text.splitlines(), start=1):
        if m := header.match(line):
            name = m.group(2).replace('"', "").replace(" ", "")
            if prefix and (name == prefix or name.startswith(prefix + ".")):
                name = name[len(prefix) :].lstrip(".")
            elif prefix:
                name = "\0" + name  # someone else's table
            index = counts.get(name, 0)
            if m.group(1) == "[[":
                counts[name] = index + 1
            table = name
            lines.setdefault((table, index, ""), n)
        elif m := key.match(line):
            lines.setdefault((table, index, m.group(2)), n)
    return lines


def load(path: Path) -> FileConfig:
    """Read and validate one config file; every problem is reported at once (exit 2)."""
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        legacy = load_config(path)  # the suppressions file `scan iac --config` once took
        return FileConfig(path=path, iac=legacy, legacy=True)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"config file `{path}`: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config file `{path}`: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"config file `{path}` is not valid TOML: {exc}",
            hint="see docs/ci.md for the config file format",
        ) from None
    prefix = ""
    if path.name == "pyproject.toml":
        prefix = PYPROJECT_TABLE
        raw = raw.get("tool", {}).get("kmsguard", {})
    return _validate(path, raw, _key_lines(text, prefix))


def _validate(
    path: Path, raw: dict[str, Any], lines: Mapping[tuple[str, int, str], int]
) -> FileConfig:
    problems: list[str] = []
    base = path.parent.resolve()

    def loc(table: str, key: str, index: int = 0) -> str:
        line = lines.get((table, index, key)) or lines.get((table, index, ""))
        return f"{path}:{line}" if line else str(path)

    def at(table: str, key: str, index: int = 0) -> str:
        name = f"{table}.{key}" if table and key else table or key
        return f"{loc(table, key, index)}: `{name}`"

    defaults: dict[str, dict[str, Any]] = {c: {} for c in COMMANDS}
    where: dict[tuple[str, str], str] = {}

    def put(table: str, key: str, setting: Setting, value: Any, scoped: bool) -> None:
        checked, problem = setting.check(value, base)
        if problem:
            problems.append(f"{at(table, key)} {problem}")
            return
        for command in setting.commands:
            if scoped or setting.param not in defaults[command]:
                defaults[command][setting.param] = checked
                where[(command, setting.param)] = loc(table, key)

    for key, value in raw.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                problems.append(f"{at('', key)} must be a table ([{key}])")
            continue
        if key in SECRETS:
            problems.append(f"{at('', key)} is not allowed: {SECRETS[key]}")
            continue
        if key not in TOP:
            known = ", ".join([*TOP, *(f"[{s}]" for s in SECTIONS)])
            problems.append(f"{at('', key)} is not a setting (known: {known})")
            continue
        put("", key, TOP[key], value, scoped=False)
    suppressions: list[Suppression] = []
    exclude: tuple[str, ...] = ()
    for section, settings in SECTIONS.items():
        table = raw.get(section)
        if not isinstance(table, dict):
            continue
        for key, value in table.items():
            if section == "iac" and key == "suppressions":
                suppressions.extend(_suppressions(value, at, problems))
                continue
            if key in SECRETS:
                problems.append(f"{at(section, key)} is not allowed: {SECRETS[key]}")
                continue
            if key not in settings:
                known = ", ".join(settings)
                if section == "iac":
                    known += ", [[iac.suppressions]]"
                problems.append(
                    f"{at(section, key)} is not a setting of [{section}] (known: {known})"
                )
                continue
            put(section, key, settings[key], value, scoped=True)
    if problems:
        raise InputError(
            f"config file `{path}` has {len(problems)} problem(s):\n  " + "\n  ".join(problems),
            hint="see docs/ci.md for the config file format",
        )
    exclude = tuple(defaults["iac"].pop("exclude", ()))
    where.pop(("iac", "exclude"), None)
    return FileConfig(
        path=path,
        defaults=defaults,
        where=where,
        iac=IacConfig(suppressions=tuple(suppressions), exclude=exclude),
    )


def _suppressions(
    value: Any, at: Callable[..., str], problems: list[str]
) -> list[Suppression]:
    if not isinstance(value, list):
        problems.append(f"{at('iac', 'suppressions')} must be an array of tables")
        return []
    found = []
    for i, entry in enumerate(value):
        local: list[str] = []
        s = suppression_from(entry, at("iac.suppressions", "", i), local)
        problems.extend(local)
        if s is not None:
            found.append(s)
    return found
