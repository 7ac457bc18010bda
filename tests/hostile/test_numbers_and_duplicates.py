"""Item 2 and the duplicate-key part of item 13: numbers JSON lets Python read but no
policy holds, and repeated keys, are an error of that input; the rest is still judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import ACCOUNT, HOSTILE_NUMBERS, policy, run, with_number


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_check_reports_the_number_and_judges_the_next_file(tmp_path: Path, number: str) -> None:
    (tmp_path / "a-hostile.json").write_text(with_number(number))
    (tmp_path / "b-public.json").write_text(json.dumps(policy(public=True)))
    proc = run("check", "--format", "json", "--account", ACCOUNT, str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    results = {Path(r["source"]).name: r for r in json.loads(proc.stdout)}
    assert results["b-public.json"]["verdict"] == "public"
    assert results["a-hostile.json"]["verdict"] == "error"
    assert "a-hostile.json" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_rejects_duplicate_keys_as_aws_does(tmp_path: Path) -> None:
    # the second "Statement" would win in Python and hide the public one
    text = (
        '{"Version": "2012-10-17", "Statement": '
        + json.dumps(policy(public=True)["Statement"])
        + ', "Statement": '
        + json.dumps(policy()["Statement"])
        + "}"
    )
    dup = tmp_path / "dup.json"
    dup.write_text(text)
    proc = run("check", "--format", "json", "--account", ACCOUNT, str(dup))
    assert proc.returncode == 2, proc.stderr
    [result] = json.loads(proc.stdout)
    assert result["verdict"] == "error"
    assert 'duplicate key "Statement"' in result["errors"][0]
    assert "duplicate key" in proc.stderr


def test_duplicate_key_inside_a_statement_is_an_error(tmp_path: Path) -> None:
    text = json.dumps(policy()).replace('"Effect": "Allow"', '"Effect": "Deny", "Effect": "Allow"')
    (tmp_path / "p.json").write_text(text)
    proc = run("check", "--format", "json", "--account", ACCOUNT, str(tmp_path / "p.json"))
    assert proc.returncode == 2
    assert 'duplicate key "Effect"' in json.loads(proc.stdout)[0]["errors"][0]


def _cfn(policy_text: str) -> str:
    return (
        '{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Key": '
        '{"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": ' + policy_text + "}}}}"
    )


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_scan_iac_cloudformation_json(tmp_path: Path, number: str) -> None:
    (tmp_path / "hostile.template.json").write_text(_cfn(with_number(number)))
    (tmp_path / "public.template.json").write_text(_cfn(json.dumps(policy(public=True))))
    proc = run("scan", "iac", "--format", "json", "--account", ACCOUNT, str(tmp_path))
    assert proc.returncode == 3, proc.stderr  # the public key is still found
    findings = {Path(f["file"]).name: f for f in json.loads(proc.stdout)}
    assert findings["public.template.json"]["verdict"] == "public"
    assert findings["hostile.template.json"]["verdict"] == "error"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("number", ["1e999", "9" * 5000, "-" + "7" * 4400])
def test_scan_iac_terraform_hcl(tmp_path: Path, number: str) -> None:
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    (hostile / "main.tf").write_text(
        'resource "aws_kms_key" "odd" {\n'
        "  policy = jsonencode({\n"
        '    Version = "2012-10-17"\n'
        "    Statement = [{\n"
        '      Sid = "Numeric", Effect = "Allow", Action = "kms:Decrypt", Resource = "*"\n'
        f'      Principal = {{ AWS = "arn:aws:iam::{ACCOUNT}:root" }}\n'
        f'      Condition = {{ NumericLessThan = {{ "kms:GrantConstraintType" = {number} }} }}\n'
        "    }]\n"
        "  })\n"
        "}\n"
    )
    good = tmp_path / "good"
    good.mkdir()
    (good / "main.tf").write_text(
        'resource "aws_kms_key" "open" {\n'
        f"  policy = <<EOF\n{json.dumps(policy(public=True))}\nEOF\n"
        "}\n"
    )
    proc = run("scan", "iac", "--format", "json", "--account", ACCOUNT, str(tmp_path))
    assert proc.returncode == 3, proc.stderr
    findings = {f["resource"]: f for f in json.loads(proc.stdout)}
    assert findings["aws_kms_key.open"]["verdict"] == "public"
    assert findings["aws_kms_key.odd"]["verdict"] in ("error", "unresolved")
    assert "Traceback" not in proc.stderr


def test_scan_iac_cloudformation_yaml_huge_int(tmp_path: Path) -> None:
    for name, value in (("huge", "9" * 5000),):
        (tmp_path / f"{name}.yaml").write_text(
            "Resources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      KeyPolicy:\n"
            "        Version: '2012-10-17'\n        Statement:\n"
            "          - Effect: Allow\n"
            f"            Principal: {{AWS: 'arn:aws:iam::{ACCOUNT}:root'}}\n"
            "            Action: kms:Decrypt\n            Resource: '*'\n"
            f"            Condition: {{NumericLessThan: {{'kms:GrantConstraintType': {value}}}}}\n"
        )
    (tmp_path / "public.template.json").write_text(_cfn(json.dumps(policy(public=True))))
    proc = run("scan", "iac", "--format", "json", "--account", ACCOUNT, str(tmp_path))
    assert proc.returncode == 3, proc.stderr
    findings = {Path(f["file"]).name: f for f in json.loads(proc.stdout)}
    assert findings["public.template.json"]["verdict"] == "public"
    assert findings["huge.yaml"]["verdict"] == "error", findings["huge.yaml"]
