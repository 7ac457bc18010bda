"""One IaC scan from paths to findings: collect the key policies and grants, judge them,
apply the suppressions. What `scan iac`, `check` and the demo share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from kmsguard.model import Finding, TrustZone
from kmsguard.safeio import read_scope

from .scan import ScanOptions, collect, judge_all
from .suppressions import Config, apply


def scan_paths(
    paths: Sequence[Path],
    zone: TrustZone,
    *,
    config: Config | None = None,
    exclude: Sequence[str] = (),
    max_file_bytes: int = 5 * 1024 * 1024,
    inline_suppressions: bool = True,
    allow_paths: Sequence[Path] = (),
    notes: list[str] | None = None,
) -> tuple[list[Finding], int]:
    """What `kmsguard scan iac` does before rendering: collect the key policies and grants
    under `paths`, judge them against `zone`, apply the suppressions (inline, metadata and
    `config`; only `config` without `inline_suppressions`). Returns the findings and the
    number of files scanned; `notes`, when given, receives what is worth knowing but no
    finding (module calls not followed). Terraform's `file()` and `templatefile()` read
    only under `paths` and `allow_paths`."""
    config = config if config is not None else Config()
    options = ScanOptions(
        zone=zone, max_file_bytes=max_file_bytes, exclude=(*exclude, *config.exclude)
    )
    with read_scope([*paths, *allow_paths]):
        collected = collect(paths, options)
    if notes is not None:
        notes.extend(collected.notes)
    findings = judge_all(collected.items, zone)
    end_lines = {
        (i.origin.source, i.origin.line, i.origin.resource): i.end_line for i in collected.items
    }
    findings = apply(
        findings,
        config=config.suppressions,
        texts=collected.texts if inline_suppressions else {},
        end_lines=end_lines,
        today=dt.date.today(),
        metadata={
            (i.origin.source, i.origin.line, i.origin.resource): i.metadata
            for i in collected.items
            if i.metadata is not None and inline_suppressions
        },
    )
    return findings, collected.files_scanned
