"""Inline and config suppressions: reason required, expiry honoured, still reported."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from .conftest import DATA

OPEN_TF = """resource "aws_kms_key" "open" {
  {comment}
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = "*", Action = "kms:Decrypt", Resource = "*" }]
  })
}
"""


def _write(tmp_path: Path, comment: str = "", above: str = "") -> Path:
    (tmp_path / "main.tf").write_text(above + OPEN_TF.replace("{comment}", comment))
    return tmp_path


def test_inline_comment_suppresses_and_stays_in_report(kmsguard: Any, tmp_path: Path) -> None:
    root = _write(tmp_path, "# kmsguard:ignore KMS001 public test fixture, no data")
    run = kmsguard("scan", "iac", root, "--format", "json")
    (f,) = run.json()
    assert f["verdict"] == "public"
    assert f["suppressed"] is not None
    assert f["suppressed"].startswith("public test fixture, no data")
    assert run.code == 0


def test_comment_directly_above_the_resource(kmsguard: Any, tmp_path: Path) -> None:
    root = _write(tmp_path, above="// kmsguard:ignore KMS001,KMS002 demo key\n")
    (f,) = kmsguard("scan", "iac", root, "--format", "json").json()
    assert f["suppressed"] is not None


def test_other_rule_does_not_suppress(kmsguard: Any, tmp_path: Path) -> None:
    root = _write(tmp_path, "# kmsguard:ignore KMS002 only cross-account is intended")
    run = kmsguard("scan", "iac", root, "--format", "json")
    assert run.json()[0]["suppressed"] is None
    assert run.code == 3


def test_suppression_without_reason_is_ignored_and_says_so(kmsguard: Any, tmp_path: Path) -> None:
    root = _write(tmp_path, "# kmsguard:ignore KMS001")
    run = kmsguard("scan", "iac", root, "--format", "json")
    (f,) = run.json()
    assert f["suppressed"] is None
    assert "gives no reason" in f["details"]["suppression_ignored"]
    assert run.code == 3


def test_comment_in_another_resource_does_not_apply(kmsguard: Any, tmp_path: Path) -> None:
    other = 'resource "aws_s3_bucket" "b" {\n  # kmsguard:ignore KMS001 not this one\n}\n\n'
    root = _write(tmp_path, above=other)
    assert kmsguard("scan", "iac", root, "--format", "json").json()[0]["suppressed"] is None


def test_yaml_inline_comment(kmsguard: Any, tmp_path: Path) -> None:
    text = (
        (DATA / "cfn" / "public.yaml")
        .read_text()
        .replace(
            "      Description: shared key",
            "      Description: shared key  # kmsguard:ignore KMS001 readable by design",
        )
    )
    (tmp_path / "t.yaml").write_text(text)
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["suppressed"] is not None


def _config(tmp_path: Path, expires: str) -> Path:
    cfg = tmp_path / "kmsguard.yaml"
    cfg.write_text(
        "suppressions:\n"
        "  - rule: KMS002\n"
        "    resource: PartnerKey\n"
        "    reason: partner reads exports under contract 42\n"
        f"    expires: {expires}\n"
    )
    return cfg


def test_config_suppression_with_future_expiry(kmsguard: Any, tmp_path: Path) -> None:
    shutil.copy(DATA / "cfn" / "cross_account_param.yaml", tmp_path / "t.yaml")
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    cfg = _config(tmp_path, future)
    run = kmsguard("scan", "iac", tmp_path / "t.yaml", "--config", cfg, "--format", "json")
    (f,) = run.json()
    assert f["suppressed"] is not None
    assert "contract 42" in f["suppressed"]
    assert run.code == 0


def test_expired_config_suppression_stops_and_says_so(kmsguard: Any, tmp_path: Path) -> None:
    shutil.copy(DATA / "cfn" / "cross_account_param.yaml", tmp_path / "t.yaml")
    cfg = _config(tmp_path, "2020-01-31")
    run = kmsguard("scan", "iac", tmp_path / "t.yaml", "--config", cfg, "--format", "json")
    (f,) = run.json()
    assert f["suppressed"] is None
    assert "expired on 2020-01-31" in f["details"]["suppression_expired"]
    assert run.code == 3
    text = kmsguard("scan", "iac", tmp_path / "t.yaml", "--config", cfg).out
    assert "suppression expired" in text


def test_bad_config_reports_every_problem(kmsguard: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "suppressions:\n"
        "  - rule: NOPE\n"
        "    resource: x\n"
        "    reason: r\n"
        "  - rule: KMS001\n"
        "    resource: y\n"
        "  - rule: KMS001\n"
        "    resource: z\n"
        "    reason: r\n"
        "    expires: someday\n"
        "colour: blue\n"
    )
    run = kmsguard("scan", "iac", DATA / "cfn", "--config", cfg)
    assert run.code == 2
    for part in ("unknown key `colour`", "suppressions[0]", "suppressions[1]", "suppressions[2]"):
        assert part in run.err
    assert "Traceback" not in run.err


def test_cloudformation_metadata_suppression(kmsguard: Any, tmp_path: Path) -> None:
    """JSON templates (CDK output) cannot carry comments: `Metadata.kmsguard.ignore`."""
    import json

    doc = json.loads((DATA / "cfn" / "cdk_synth.template.json").read_text())
    doc["Resources"]["SharedKeyF00D"]["Metadata"] = {
        "kmsguard": {"ignore": [{"rule": "KMS001", "reason": "public verification key"}]}
    }
    doc["Resources"]["AppKeyA1B2C3D4"]["Metadata"]["kmsguard"] = {"ignore": [{"rule": "KMS001"}]}
    (tmp_path / "App.template.json").write_text(json.dumps(doc, indent=1))
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    by = run.by_resource()
    assert by["SharedKeyF00D"]["suppressed"].startswith("public verification key")
    assert "gives no reason" in by["AppKeyA1B2C3D4"]["details"]["suppression_ignored"]
    assert run.code == 0
