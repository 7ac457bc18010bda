"""Two statements each expose the key to a different account: the assessment names both,
and `fix plan` changes both (fixing only the first would leave the key exposed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kmsguard.cli import main
from kmsguard.model import TrustZone
from kmsguard.policy import analyze_policy

CASE = Path(__file__).resolve().parents[1] / "corpus/engine-cases/two_statements_two_accounts.json"
A = "123456789012"


def test_every_exposing_statement_is_named_and_fixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zone = TrustZone(account=A)
    (exposure,) = analyze_policy(CASE.read_text(), zone).exposures
    assert set(exposure.principals) == {"111111111111", "222222222222"}
    assert set(exposure.statements) == {"PartnerOne", "PartnerTwo"}

    policy = tmp_path / "policy.json"
    shutil.copy(CASE, policy)
    report = tmp_path / "usage.json"
    key = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    report.write_text(json.dumps({"keys": [{"key_arn": key, "calls": 0, "callers": []}]}))
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "fix",
                "plan",
                "--policy",
                str(policy),
                "--usage",
                str(report),
                "--account",
                A,
                "--allow-no-usage",
                "--format",
                "json",
            ]
        )
    out, _ = capsys.readouterr()
    assert exc.value.code == 0
    plan = json.loads(out)
    assert {c["statement"] for c in plan["changes"]} == {"PartnerOne", "PartnerTwo"}
    assert plan["verdict_after"] == "private"
