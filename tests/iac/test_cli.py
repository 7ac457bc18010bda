"""`kmsguard scan iac` exit codes, formats and options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import DATA


def test_private_only_exits_0(kmsguard: Any) -> None:
    run = kmsguard("scan", "iac", DATA / "cfn" / "conditioned_safe.yaml")
    assert run.code == 0
    assert "SafeKey  private" in run.out


def test_public_exits_3(kmsguard: Any) -> None:
    run = kmsguard("scan", "iac", DATA / "cfn" / "public.yaml")
    assert run.code == 3
    assert "public.yaml:6  OpenKey  public critical  KMS001" in run.out
    assert "witness:" in run.out
    assert "fix:" in run.out


def test_fail_on_threshold(kmsguard: Any) -> None:
    path = DATA / "cfn" / "cross_account_param.yaml"  # high
    assert kmsguard("scan", "iac", path, "--fail-on", "high").code == 3
    assert kmsguard("scan", "iac", path, "--fail-on", "critical").code == 0


def test_unresolved_only_exits_4(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "Resources:\n  K:\n    Type: AWS::KMS::Key\n"
        "    Properties:\n      KeyPolicy: !ImportValue shared-key-policy\n"
    )
    run = kmsguard("scan", "iac", tmp_path)
    assert run.code == 4
    assert "the whole policy comes from `Fn::ImportValue shared-key-policy`" in run.out


def test_json_fields(kmsguard: Any, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    run = kmsguard("scan", "iac", DATA / "tf" / "jsonencode", "--format", "json", "-o", out)
    assert run.out == ""
    import json

    findings = json.loads(out.read_text())
    f = next(x for x in findings if x["resource"] == "aws_kms_key.public")
    for key in ("file", "line", "resource", "verdict", "severity", "exposures", "rule_id"):
        assert key in f
    (exposure,) = f["exposures"]
    assert exposure["principals"] == ["*"]
    assert exposure["actions"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert exposure["witness"]["action"] in exposure["actions"]


def test_exclude(kmsguard: Any) -> None:
    run = kmsguard(
        "scan", "iac", DATA / "cfn", "--exclude", "*.yaml", "--exclude", "*.yml", "--format", "json"
    )
    assert {Path(f["file"]).suffix for f in run.json()} == {".json"}


def test_help_lists_options(kmsguard: Any) -> None:
    run = kmsguard("scan", "iac", "--help")
    assert run.code == 0
    for opt in ("--account", "--format", "--fail-on", "--config", "--max-file-size"):
        assert opt in run.out


def test_bad_account_is_usage_error(kmsguard: Any) -> None:
    run = kmsguard("scan", "iac", DATA, "--account", "12")
    assert run.code == 2


def test_unwritable_output_is_an_input_error(kmsguard: Any, tmp_path: Path) -> None:
    run = kmsguard("scan", "iac", DATA / "cfn" / "public.yaml", "-o", tmp_path / "no" / "r.json")
    assert run.code == 2
    assert "cannot write the report" in run.err
