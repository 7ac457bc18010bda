"""Rule metadata is data: every rule id the code can emit has a title, a severity and a fix."""

from __future__ import annotations

import re
from pathlib import Path

from kmsguard import rules
from kmsguard.model import ExposureKind, Verdict

SRC = Path(rules.__file__).resolve().parent


def test_every_rule_id_used_in_the_source_has_metadata() -> None:
    used = {
        m
        for path in SRC.rglob("*.py")
        for m in re.findall(r"\bKMS0\d\d\b", path.read_text(encoding="utf-8"))
    }
    known = rules.all_rules()
    assert used <= set(known)
    for r in known.values():
        assert r.title
        assert r.description
        assert r.remediation


def test_every_verdict_and_exposure_kind_maps_to_a_rule() -> None:
    for verdict in Verdict:
        rid = rules.rule_for_verdict(verdict)
        assert rid is None if verdict is Verdict.PRIVATE else rid in rules.all_rules()
    for kind in ExposureKind:
        assert rules.rule_for_exposure(kind) in rules.all_rules()
