"""Baselines: the findings a team has accepted, by fingerprint. `--write-baseline FILE`
records today's findings; with `--baseline FILE` those are reported as accepted and do not
fail the gate, while new ones (or ones that got worse) do."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kmsguard.errors import InputError
from kmsguard.model import Finding, Severity
from kmsguard.report.fingerprint import fingerprint, identity

VERSION = 1


def write_baseline(path: Path, findings: Sequence[Finding], base: Path | None) -> int:
    """Every reportable finding that is not suppressed; returns how many."""
    entries = sorted(
        (
            {
                "fingerprint": fingerprint(f, base),
                "rule_id": f.rule_id,
                "file": identity(f, base),
                "resource": f.origin.resource,
                "severity": str(f.severity),
            }
            for f in findings
            if f.rule_id is not None and f.suppressed is None
        ),
        key=lambda e: (e["file"] or "", e["resource"] or "", e["rule_id"] or ""),
    )
    unique = list({e["fingerprint"]: e for e in entries}.values())
    doc = {"kmsguard_baseline": VERSION, "findings": unique}
    try:
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the baseline `{path}`: {exc.strerror}") from None
    return len(unique)


def load_baseline(path: Path) -> dict[str, Severity]:
    """Fingerprint -> the severity accepted."""
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"baseline `{path}`: no such file",
            hint="create it with `kmsguard scan iac PATH --write-baseline FILE`",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"baseline `{path}` cannot be read: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kmsguard_baseline") != VERSION:
        raise InputError(
            f"baseline `{path}` is not a kmsguard baseline (version {VERSION})",
            hint="create it with `kmsguard scan iac PATH --write-baseline FILE`",
        )
    accepted: dict[str, Severity] = {}
    for i, e in enumerate(doc.get("findings") or []):
        try:
            accepted[str(e["fingerprint"])] = Severity(e.get("severity", "critical"))
        except (TypeError, KeyError, ValueError):
            raise InputError(f"baseline `{path}`: entry {i} is malformed") from None
    return accepted


def apply_baseline(
    findings: Sequence[Finding], accepted: dict[str, Severity], path: Path, base: Path | None
) -> list[Finding]:
    """Mark accepted findings (as suppressed, with the baseline as the reason); a finding
    whose severity rose since it was accepted is new."""
    out: list[Finding] = []
    for f in findings:
        known = accepted.get(fingerprint(f, base)) if f.rule_id is not None else None
        if f.suppressed is None and known is not None and known.at_least(f.severity):
            f = replace(
                f,
                suppressed=f"accepted in baseline {path}",
                extra=(*f.extra, ("baseline", "accepted")),
            )
        out.append(f)
    return out
