"""A bug met while reading one resource, module or file is that input's error finding:
the rest of the scan is still judged and the exit code is 4 (incomplete), never 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmsguard.iac import cloudformation
from kmsguard.iac.terraform import scan as tfscan

PUBLIC_TF = """
resource "aws_kms_key" "%s" {
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Principal = "*", Action = "kms:Decrypt", Resource = "*" }]
  })
}
"""
CFN = """
Resources:
  Key:
    Type: AWS::KMS::Key
"""


def _tree(tmp_path: Path) -> None:
    for name in ("good", "boom"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "main.tf").write_text(PUBLIC_TF % name)
    (tmp_path / "a.yaml").write_text(CFN)
    (tmp_path / "b.yaml").write_text(CFN)


def test_one_resource_fails(kmsguard: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path)
    real = tfscan._policy

    def policy(ev: Any, block: Any) -> Any:
        if block.labels[1] == "boom":
            raise RuntimeError("dictionary changed size during iteration")
        return real(ev, block)

    monkeypatch.setattr(tfscan, "_policy", policy)
    run = kmsguard("scan", "iac", tmp_path, "--format", "json", "--fail-on", "critical")
    by = {(Path(f["file"]).parent.name, f["resource"]): f for f in run.json()}
    assert by[("good", "aws_kms_key.good")]["verdict"] == "public"
    boom = by[("boom", "aws_kms_key.boom")]
    assert boom["verdict"] == "error"
    assert "RuntimeError: dictionary changed size" in boom["errors"][0]
    assert boom["line"] == 2
    assert run.code == 3  # the public key found elsewhere still decides the exit code


def test_one_module_fails(kmsguard: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path)
    (tmp_path / "good" / "main.tf").write_text('resource "aws_kms_key" "good" {}\n')
    real = tfscan.scan_module

    def scan_module(folder: Path, *args: Any, **kwargs: Any) -> Any:
        if folder.name == "boom":
            raise KeyError("boom")
        return real(folder, *args, **kwargs)

    monkeypatch.setattr("kmsguard.iac.terraform.scan_module", scan_module)
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    got = run.json()
    errors = [f for f in got if f["verdict"] == "error"]
    assert [Path(f["file"]).name for f in errors] == ["boom"]
    assert "internal error" in errors[0]["errors"][0]
    assert {f["resource"] for f in got if f["verdict"] == "private"} == {"aws_kms_key.good", "Key"}
    assert run.code == 4


def test_one_template_fails(kmsguard: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path)
    (tmp_path / "boom" / "main.tf").write_text('resource "aws_kms_key" "boom" {}\n')
    (tmp_path / "good" / "main.tf").write_text('resource "aws_kms_key" "good" {}\n')
    real = cloudformation.scan_template

    def scan_template(text: str, display: str, **kwargs: Any) -> Any:
        if display.endswith("b.yaml"):
            raise RecursionError("maximum recursion depth exceeded")
        return real(text, display, **kwargs)

    monkeypatch.setattr(cloudformation, "scan_template", scan_template)
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    verdicts = {Path(f["file"]).name: f["verdict"] for f in run.json()}
    assert verdicts == {"a.yaml": "private", "b.yaml": "error", "main.tf": "private"}
    assert run.code == 4
