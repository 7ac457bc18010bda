"""The README is what a new user reads first: its quick start and its IAM policy stay true."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_quick_start_has_the_two_make_targets() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make (\w+)", quick, flags=re.MULTILINE)
    assert commands == ["demo", "test"]
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, flags=re.MULTILINE)
    assert re.search(r"^test:", makefile, flags=re.MULTILINE)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_readme_iam_policy_is_the_shipped_one() -> None:
    block = README.split("## Permissions for `kmsguard scan aws`", 1)[1]
    shown = json.loads(block.split("```json", 1)[1].split("```", 1)[0])
    shipped = json.loads((REPO / "iam" / "kmsguard-scanner-policy.json").read_text())
    assert shown == shipped
