"""Bad input to any command is a clear error naming the input: exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "src" / "kmsguard" / "demo" / "policies"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmsguard", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("scan", "iac", "{missing}"), "{missing}"),
        (("usage", "{missing}"), "{missing}"),
        (("check", "{bad}"), "{bad}"),
        (
            ("fix", "plan", "--policy", "{bad}", "--usage", "{bad}", "--account", "111122223333"),
            "{bad}",
        ),
        (
            (
                "fix",
                "plan",
                "--policy",
                str(DEMO / "02-quick-fix-wildcard.json"),
                "--usage",
                "{bad}",
            ),
            "{bad}",
        ),
        (("check", "--account", "12", str(DEMO / "01-default.json")), "12"),
    ],
)
def test_bad_input_is_exit_2_with_the_input_named(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    values = {"missing": str(tmp_path / "missing"), "bad": str(bad)}
    p = run(*(a.format(**values) for a in args))
    assert p.returncode == 2, p.stderr
    assert named.format(**values).split("/")[-1] in p.stderr
    assert "Traceback" not in p.stderr + p.stdout
