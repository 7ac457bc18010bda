"""SARIF 2.1.0 for GitHub code scanning: one run, rule metadata from `rules.json`, one
result per reportable finding (suppressed ones carry a `suppressions` entry)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from kmsguard import __version__, rules
from kmsguard.model import Finding, Severity, Verdict

from .fingerprint import fingerprint, is_file, relative_source
from .json_report import pretty_json

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/kmsguard/kmsguard"
SRCROOT = "%SRCROOT%"
#: Computed from the repository-relative path, resource and rule (see `fingerprint`).
FINGERPRINT_KEY = "kmsguardFingerprint/v2"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "warning",
    Severity.INFO: "note",
    Severity.NONE: "warning",  # errors / unresolved: the key was not judged
}
#: GitHub ranks code-scanning alerts by this number (0.1-10).
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
    Severity.NONE: "4.0",
}


def _rule_descriptor(rule_id: str) -> dict[str, Any]:
    r = rules.rule(rule_id)
    return {
        "id": r.id,
        "name": "".join(w.capitalize() for w in re.findall(r"[A-Za-z0-9]+", r.title)),
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.description},
        "help": {
            "text": f"{r.description}\n\nFix: {r.remediation}",
            "markdown": f"{r.description}\n\n**Fix:** {r.remediation}",
        },
        "defaultConfiguration": {"level": _LEVEL[r.default_severity]},
        "properties": {
            "tags": ["security", "aws", "kms"],
            "security-severity": _SECURITY_SEVERITY[r.default_severity],
            "precision": "very-high",
        },
    }


def _message(f: Finding) -> str:
    a = f.assessment
    rule = rules.rule(f.rule_id) if f.rule_id else None
    head = rule.title if rule else str(a.verdict)
    parts = [f"{head} ({a.verdict}, {a.severity})"]
    if f.origin.resource:
        parts[0] = f"{f.origin.resource}: {parts[0]}"
    for e in a.exposures:
        actions = ", ".join(e.actions[:8]) + (" …" if len(e.actions) > 8 else "")
        line = f"{', '.join(e.principals)} can be allowed {actions}"
        if e.statements:
            line += f" by statement {', '.join(e.statements)}"
        if e.network_restricted:
            line += f" (only from {', '.join(e.network_conditions) or 'a restricted network'})"
        parts.append(line)
        if e.witness is not None:
            parts.append(f"witness: {e.witness.describe()}")
    parts.extend(a.errors)
    if rule is not None and a.verdict in (Verdict.PUBLIC, Verdict.CROSS_ACCOUNT):
        parts.append(f"fix: {rule.remediation}")
    return ". ".join(p.rstrip(".") for p in parts)


def _artifact(source: str, base: Path | None) -> dict[str, Any]:
    """Relative to the repository root (`%SRCROOT%`) when the file is under it; otherwise
    a relative path stays as given and an absolute one becomes a file URI."""
    rel = relative_source(source, base)
    if rel is not None:
        return {"uri": quote(rel, safe="/"), "uriBaseId": SRCROOT}
    if Path(source).is_absolute():
        return {"uri": Path(source).as_uri()}
    return {"uri": quote(str(PurePosixPath(source.replace("\\", "/"))), safe="/:")}


def _logical(f: Finding) -> list[dict[str, Any]]:
    """A live key: its ARN, with the account and region it lives in."""
    if is_file(f.origin.source):
        if f.origin.resource:
            return [{"name": f.origin.resource, "kind": "resource"}]
        return []
    location: dict[str, Any] = {
        "name": f.origin.resource or f.origin.source.rsplit("/", 1)[-1],
        "fullyQualifiedName": f.origin.source,
        "kind": "resource",
    }
    props = {k: v for k, v in (("account", f.origin.account), ("region", f.origin.region)) if v}
    if props:
        location["properties"] = props
    return [location]


def _result(f: Finding, rule_index: dict[str, int], base: Path | None) -> dict[str, Any]:
    assert f.rule_id is not None
    location: dict[str, Any] = {}
    if is_file(f.origin.source):
        location["physicalLocation"] = {
            "artifactLocation": _artifact(f.origin.source, base),
            "region": {"startLine": max(1, f.origin.line or 1)},
        }
    logical = _logical(f)
    if logical:
        location["logicalLocations"] = logical
    message = _message(f)
    if not is_file(f.origin.source):
        where = ", ".join(x for x in (f.origin.account, f.origin.region) if x)
        message = f"{f.origin.source}" + (f" ({where})" if where else "") + f": {message}"
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index[f.rule_id],
        "level": _LEVEL[f.severity],
        "message": {"text": message},
        "locations": [location] if location else [],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f, base)},
        "properties": {
            "verdict": str(f.verdict),
            "severity": str(f.severity),
            "exposures": [e.to_json() for e in f.assessment.exposures],
            "errors": list(f.assessment.errors),
            "notes": list(f.assessment.notes),
            **dict(f.extra),
        },
    }
    if f.suppressed is not None:
        in_source = f"({f.origin.source}:" in f.suppressed
        result["suppressions"] = [
            {"kind": "inSource" if in_source else "external", "justification": f.suppressed}
        ]
    return result


def render_sarif(findings: Sequence[Finding], *, base_dir: Path | None = None) -> str:
    """Findings with a rule (private verdicts have none) as one SARIF 2.1.0 log. Files
    under `base_dir` (the repository root) are named relative to it, with `%SRCROOT%`."""
    reportable = [f for f in findings if f.rule_id is not None]
    rule_ids = sorted({f.rule_id for f in reportable if f.rule_id is not None})
    rule_index = {rid: i for i, rid in enumerate(rule_ids)}
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kmsguard",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule_descriptor(r) for r in rule_ids],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, rule_index, base_dir) for f in reportable],
            }
        ],
    }
    return pretty_json(log)
