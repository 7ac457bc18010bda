"""`kmsguard check` as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "key-policies"
ZONE = ["--account", "123456789012", "--org-id", "o-exampleorgid"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmsguard", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def test_json_output_for_a_directory() -> None:
    p = run("check", *ZONE, "--format", "json", str(CORPUS / "untrusted"))
    assert p.returncode == 3, p.stderr
    rows = json.loads(p.stdout)
    assert len(rows) == len(list((CORPUS / "untrusted").glob("*.json")))
    by_name = {Path(r["source"]).stem: r for r in rows}
    star = by_name["star_string_all"]
    assert star["verdict"] == "public"
    assert star["severity"] == "critical"
    exposure = star["exposures"][0]
    assert {"statements", "principals", "actions", "network_restricted", "witness"} <= set(exposure)
    assert "kms:Decrypt" in exposure["actions"]
    assert exposure["witness"]["account"] not in ("123456789012",)
    assert by_name["own_root_only"]["verdict"] == "private"
    assert by_name["own_root_only"]["errors"] == []


@pytest.mark.parametrize("path", sorted((CORPUS / "invalid").iterdir()), ids=lambda p: p.name)
def test_invalid_input_exits_2_naming_the_file(path: Path) -> None:
    p = run("check", *ZONE, str(path))
    assert p.returncode == 2
    assert path.name in p.stderr
    assert "Traceback" not in p.stderr + p.stdout


def test_input_error_wins_over_findings_and_other_inputs_are_reported() -> None:
    bad = CORPUS / "invalid" / "not_json.json"
    good = CORPUS / "untrusted" / "star_string_all.json"
    p = run("check", *ZONE, "--format", "json", str(bad), str(good))
    assert p.returncode == 2
    verdicts = [r["verdict"] for r in json.loads(p.stdout)]
    assert verdicts == ["error", "public"]


def test_fail_on_threshold_and_stdin() -> None:
    text = (CORPUS / "untrusted" / "describe_wildcard_only.json").read_text()
    assert run("check", *ZONE, "-", stdin=text).returncode == 3  # low >= default low
    assert run("check", *ZONE, "--fail-on", "high", "-", stdin=text).returncode == 0


def test_text_explains_the_witness() -> None:
    p = run("check", *ZONE, str(CORPUS / "untrusted" / "via_service_only.json"))
    assert p.returncode == 3
    assert "public" in p.stdout
    assert "witness:" in p.stdout
    assert "is allowed kms:" in p.stdout


def test_missing_file_and_bad_option() -> None:
    p = run("check", "does-not-exist.json")
    assert p.returncode == 2
    assert "does-not-exist.json" in p.stderr
    p = run("check", "--account", "12", str(CORPUS / "untrusted" / "own_root_only.json"))
    assert p.returncode == 2
    assert "12-digit" in p.stderr


def test_demo_runs() -> None:
    p = run("demo", "--bundled")
    assert p.returncode == 0, p.stderr
    assert "02-quick-fix-wildcard.json" in p.stdout
    assert "public" in p.stdout
