"""Identities of findings that do not depend on where kmsguard ran: a file's path relative to
the repository root (not to the working directory or the scan root), the resource and the
rule — never the line, so editing above a resource keeps its identity. Used by SARIF
`partialFingerprints` and by baselines."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from kmsguard.model import Finding


def is_file(source: str) -> bool:
    return not source.startswith(("arn:", "s3://"))


def relative_source(source: str, base: Path | None) -> str | None:
    """`source` (a path as given on the command line, relative to the working directory or
    absolute) as a POSIX path relative to `base`; None when it is not a file under `base`."""
    if base is None or not is_file(source) or source == "-":
        return None
    try:
        rel = Path(source).resolve().relative_to(base.resolve())
    except (ValueError, OSError):
        return None
    return str(PurePosixPath(*rel.parts)) if rel.parts else None


def identity(f: Finding, base: Path | None) -> str:
    """The finding's place: its repository-relative path (or its ARN / source as given)."""
    return relative_source(f.origin.source, base) or f.origin.source.replace("\\", "/")


def fingerprint(f: Finding, base: Path | None) -> str:
    extra = dict(f.extra)
    parts = [
        identity(f, base),
        f.origin.resource or "",
        f.rule_id or "",
        extra.get("grant_id", ""),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
