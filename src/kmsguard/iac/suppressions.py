"""Suppressions: inline `# kmsguard:ignore <rule_id> <reason>` comments on a resource, and
config-file entries with a reason and an optional expiry date. Expired suppressions stop
suppressing and say so; suppressed findings stay in reports, marked."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from kmsguard import safeio
from kmsguard.errors import InputError
from kmsguard.model import Finding

_RULE_RE = re.compile(r"^KMS\d{3}$")
_INLINE_RE = re.compile(
    r"(?:#|//|/\*)\s*kmsguard:ignore\b[ \t]*(?P<rules>[A-Za-z0-9,]*)[ \t]*(?P<reason>[^\n*]*)"
)


@dataclass(frozen=True, slots=True)
class Suppression:
    rules: tuple[str, ...]
    reason: str
    where: str  # "file:line" of the comment, or "config.yaml: suppressions[2]"
    resource: str | None = None  # glob on the logical id / Terraform address
    file: str | None = None  # glob on the reported path
    expires: dt.date | None = None

    def matches(self, f: Finding) -> bool:
        if f.rule_id is None or f.rule_id not in self.rules:
            return False
        if self.resource is not None and not fnmatch(f.origin.resource or "", self.resource):
            return False
        return self.file is None or fnmatch(f.origin.source, self.file)


@dataclass(frozen=True, slots=True)
class Config:
    suppressions: tuple[Suppression, ...] = ()
    exclude: tuple[str, ...] = ()
    trusted_accounts: tuple[str, ...] = ()
    trusted_orgs: tuple[str, ...] = ()


def inline_suppressions(
    lines: Sequence[str], display: str, line: int | None, end_line: int | None
) -> tuple[list[Suppression], list[str]]:
    """Comments inside the resource's lines or directly above it. Returns the valid ones
    and problems (a comment without a rule id or a reason does not suppress)."""
    if line is None:
        return [], []
    start = line - 1  # 0-based index of the resource's first line
    while start > 0 and lines[start - 1].lstrip().startswith(("#", "//", "/*")):
        start -= 1
    stop = min(len(lines), end_line if end_line is not None else line)
    found: list[Suppression] = []
    problems: list[str] = []
    for idx in range(start, stop):
        m = _INLINE_RE.search(lines[idx])
        if m is None:
            continue
        where = f"{display}:{idx + 1}"
        ids = tuple(r.upper() for r in m.group("rules").split(",") if r)
        reason = m.group("reason").strip()
        bad = [r for r in ids if not _RULE_RE.match(r)]
        if not ids or bad:
            problems.append(
                f"suppression at {where} ignored: `{m.group(0).strip()}` names no rule id "
                "(write `# kmsguard:ignore KMS001 <reason>`)"
            )
        elif not reason:
            problems.append(f"suppression at {where} ignored: it gives no reason")
        else:
            found.append(Suppression(rules=ids, reason=reason, where=where))
    return found, problems


def metadata_suppressions(meta: Any, where: str) -> tuple[list[Suppression], list[str]]:
    """A CloudFormation resource's `Metadata: {kmsguard: {ignore: [{rule, reason}]}}` —
    the inline form for JSON templates (CDK: `node.addMetadata`)."""
    entries = meta.get("ignore") if isinstance(meta, dict) else None
    if not isinstance(entries, list):
        return [], [f"suppression at {where} ignored: `Metadata.kmsguard.ignore` is not a list"]
    found: list[Suppression] = []
    problems: list[str] = []
    for e in entries:
        rule = e.get("rule") if isinstance(e, dict) else None
        reason = e.get("reason") if isinstance(e, dict) else None
        ids = [rule] if isinstance(rule, str) else rule if isinstance(rule, list) else []
        if not ids or not all(isinstance(r, str) and _RULE_RE.match(r.upper()) for r in ids):
            problems.append(f"suppression at {where} ignored: `rule` must be a rule id")
        elif not isinstance(reason, str) or not reason.strip():
            problems.append(f"suppression at {where} ignored: it gives no reason")
        else:
            found.append(
                Suppression(
                    rules=tuple(r.upper() for r in ids),
                    reason=reason.strip(),
                    where=f"{where} Metadata",
                )
            )
    return found, problems


def apply(
    findings: Sequence[Finding],
    *,
    config: Sequence[Suppression],
    texts: Mapping[str, Sequence[str]],
    end_lines: Mapping[tuple[str, int | None, str | None], int | None],
    today: dt.date,
    metadata: Mapping[tuple[str, int | None, str | None], Any] | None = None,
) -> list[Finding]:
    """Mark suppressed findings; note expired and ignored suppressions on the finding."""
    out: list[Finding] = []
    for f in findings:
        candidates: list[Suppression] = []
        extra = list(f.extra)
        lines = texts.get(f.origin.source)
        if lines is not None:
            key = (f.origin.source, f.origin.line, f.origin.resource)
            inline, problems = inline_suppressions(
                lines, f.origin.source, f.origin.line, end_lines.get(key)
            )
            candidates.extend(inline)
            extra.extend(("suppression_ignored", p) for p in problems)
        meta = (metadata or {}).get((f.origin.source, f.origin.line, f.origin.resource))
        if meta is not None:
            found, problems = metadata_suppressions(meta, f"{f.origin.source}:{f.origin.line}")
            candidates.extend(found)
            extra.extend(("suppression_ignored", p) for p in problems)
        candidates.extend(config)
        suppressed: str | None = None
        for s in candidates:
            if not s.matches(f):
                continue
            if s.expires is not None and s.expires < today:
                extra.append(
                    (
                        "suppression_expired",
                        f"suppression at {s.where} expired on {s.expires.isoformat()}: {s.reason}",
                    )
                )
                continue
            suppressed = f"{s.reason} ({s.where})"
            break
        out.append(replace(f, suppressed=suppressed, extra=tuple(extra)))
    return out


def load_config(path: Path) -> Config:
    """Read a config file (YAML or JSON); every problem is reported at once."""
    import yaml  # only the legacy YAML config needs it: `check` starts without it

    try:
        text = safeio.read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config file `{path}`: {exc}") from None
    try:
        raw = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise InputError(
            f"config file `{path}` is not valid YAML/JSON: {str(exc).splitlines()[0]}"
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"config file `{path}` must be a mapping")
    problems: list[str] = []
    known = {"suppressions", "exclude", "trusted_accounts", "trusted_orgs"}
    problems.extend(f"unknown key `{k}`" for k in raw if k not in known)
    suppressions: list[Suppression] = []
    entries = raw.get("suppressions") or []
    if not isinstance(entries, list):
        problems.append("`suppressions` must be a list")
        entries = []
    for i, e in enumerate(entries):
        where = f"{path}: suppressions[{i}]"
        s = suppression_from(e, where, problems)
        if s is not None:
            suppressions.append(s)
    exclude = _strings(raw.get("exclude"), "exclude", problems)
    accounts = _strings(raw.get("trusted_accounts"), "trusted_accounts", problems)
    problems.extend(
        f"`trusted_accounts`: `{a}` is not a 12-digit account id"
        for a in accounts
        if not re.fullmatch(r"\d{12}", a)
    )
    orgs = _strings(raw.get("trusted_orgs"), "trusted_orgs", problems)
    if problems:
        raise InputError(
            f"config file `{path}` has {len(problems)} problem(s): " + "; ".join(problems),
            hint="see docs/iac.md for the config file format",
        )
    return Config(tuple(suppressions), tuple(exclude), tuple(accounts), tuple(orgs))


def _strings(value: Any, name: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        problems.append(f"`{name}` must be a list of strings")
        return []
    return [str(v) for v in value]


def suppression_from(e: Any, where: str, problems: list[str]) -> Suppression | None:
    if not isinstance(e, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    unknown = [k for k in e if k not in ("rule", "rules", "resource", "file", "reason", "expires")]
    problems.extend(f"{where}: unknown key `{k}`" for k in unknown)
    rule_value = e.get("rules", e.get("rule"))
    ids = [rule_value] if isinstance(rule_value, str) else rule_value
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(r, str) and _RULE_RE.match(r.upper()) for r in ids)
    ):
        problems.append(f"{where}: `rule` must be a rule id such as KMS001")
        return None
    reason = e.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        problems.append(f"{where}: `reason` is required")
        return None
    expires = e.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            problems.append(f"{where}: `expires` must be a date (YYYY-MM-DD)")
            return None
    if isinstance(expires, dt.datetime):
        expires = expires.date()
    if expires is not None and not isinstance(expires, dt.date):
        problems.append(f"{where}: `expires` must be a date (YYYY-MM-DD)")
        return None
    for k in ("resource", "file"):
        if k in e and not isinstance(e[k], str):
            problems.append(f"{where}: `{k}` must be a string")
            return None
    if e.get("resource") is None and e.get("file") is None:
        problems.append(f"{where}: give `resource` or `file` (or both)")
        return None
    return Suppression(
        rules=tuple(r.upper() for r in ids),
        reason=reason.strip(),
        where=where,
        resource=e.get("resource"),
        file=e.get("file"),
        expires=expires,
    )
