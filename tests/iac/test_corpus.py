"""The IaC corpus: each folder of `tests/iac/corpus/` is a tree scanned as a user would,
with the findings (file, line, resource, verdict, and optionally a note or branch that
must appear), the notes on stderr and the exit code it must give in `expected.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(p.parent.name for p in CORPUS.glob("*/expected.json"))


def _matches(want: dict[str, Any], got: dict[str, Any], root: Path) -> bool:
    if Path(got["file"]).resolve() != (root / want["file"]).resolve():
        return False
    return bool(got["resource"] == want["resource"] and got["line"] == want["line"])


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case: str, kmsguard: Any) -> None:
    root = CORPUS / case
    expected = json.loads((root / "expected.json").read_text())
    run = kmsguard("scan", "iac", root, "--format", "json", *expected.get("args", []))
    got = run.json()
    assert run.code == expected["exit"], (run.code, run.err, got)
    for part in expected.get("stderr", []):
        assert part in run.err, (part, run.err)
    if "stderr" not in expected:  # nothing but the advice that no owner account was given
        said = [x for x in run.err.splitlines() if not x.startswith("warning: no owner account")]
        assert said == [], run.err
    wanted: list[dict[str, Any]] = expected["findings"]
    assert len(got) == len(wanted), [(g["file"], g["resource"], g["verdict"]) for g in got]
    for want in wanted:
        found = [g for g in got if _matches(want, g, root)]
        assert found, (want, [(g["file"], g["line"], g["resource"]) for g in got])
        g = found[0]
        assert g["verdict"] == want["verdict"], (want, g)
        if "severity" in want:
            assert g["severity"] == want["severity"], (want, g)
        text = json.dumps(g["notes"] + g["errors"])
        for part in want.get("notes", []):
            assert part in text, (part, g["notes"], g["errors"])
        for part in want.get("absent", []):
            assert part not in text, (part, g["notes"], g["errors"])
        if "branch" in want:
            assert want["branch"] in g.get("details", {}).get("branch", ""), (want, g)
