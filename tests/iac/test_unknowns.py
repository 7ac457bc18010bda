"""Inputs without a value inside strings: a role name from a parameter does not hide a
known account; an unknown account does stay unresolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmsguard.iac.items import Unresolved
from kmsguard.iac.unknowns import MARKER, Role, Unknown, interpret

TF = """
data "aws_caller_identity" "c" {}
variable "role_name" {
  type = string
}
variable "region" {
  type = string
}
variable "partner" {
  type = string
}

resource "aws_kms_key" "named_role" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "App-${var.role_name}"
      Effect    = "Allow"
      Principal = {
        AWS = "arn:aws:iam::${data.aws_caller_identity.c.account_id}:role/${var.role_name}"
      }
      Action    = "kms:Decrypt"
      Resource  = "*"
      Condition = { StringEquals = { "kms:ViaService" = "s3.${var.region}.amazonaws.com" } }
    }]
  })
}

resource "aws_kms_key" "unknown_account" {
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{
      Effect = "Allow", Principal = { AWS = "arn:aws:iam::${var.partner}:root" },
      Action = "kms:Decrypt", Resource = "*"
    }]
  })
}

resource "aws_kms_grant" "named" {
  key_id            = "k"
  grantee_principal = "arn:aws:iam::${data.aws_caller_identity.c.account_id}:role/${var.role_name}"
  operations        = ["Decrypt"]
}
"""

CFN = """
Parameters:
  RoleName:
    Type: String
  PartnerAccount:
    Type: String
Resources:
  NamedRoleKey:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RoleName}"
            Action: kms:Decrypt
            Resource: "*"
          - Effect: Allow
            Principal:
              AWS: !Join ["", ["arn:aws:iam::", !Ref AWS::AccountId, ":role/", !Ref RoleName]]
            Action: kms:Encrypt
            Resource: "*"
  PartnerKey:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: !Sub "arn:aws:iam::${PartnerAccount}:role/${RoleName}"
            Action: kms:Decrypt
            Resource: "*"
"""


def test_terraform(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(TF)
    by = kmsguard("scan", "iac", tmp_path, "--format", "json").by_resource()
    named = by["aws_kms_key.named_role"]
    assert named["verdict"] == "private"
    assert any("`var.role_name`" in n and "placeholders" in n for n in named["notes"])
    unknown = by["aws_kms_key.unknown_account"]
    assert unknown["verdict"] == "cross-account"
    assert (
        "private if `var.partner` is one of your accounts, cross-account otherwise"
        in unknown["notes"]
    )
    assert unknown["exposures"][0]["principals"] == ["<var.partner>"]
    assert unknown["details"]["branch"] == "`var.partner` is another account"
    assert by["aws_kms_grant.named"]["verdict"] == "private"


def test_cloudformation(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(CFN)
    by = kmsguard("scan", "iac", tmp_path, "--format", "json").by_resource()
    assert by["NamedRoleKey"]["verdict"] == "private"
    partner = by["PartnerKey"]
    assert partner["verdict"] == "cross-account"
    assert any("parameter `PartnerAccount`" in n for n in partner["notes"])


def _one(statement: dict[str, Any]) -> Any:
    return interpret({"Statement": [statement]}, "000000000000")


@pytest.mark.parametrize(
    ("statement", "settled"),
    [
        (
            {"Sid": f"x{MARKER}", "Resource": f"arn:aws:kms:{MARKER}"},
            {"Sid": "xunknown", "Resource": "*"},
        ),
        (
            {"Principal": {"Service": f"logs.{MARKER}.amazonaws.com"}},
            {"Principal": {"Service": "logs.unknown.amazonaws.com"}},
        ),
        (
            {"Condition": {"StringEquals": {"kms:ViaService": f"s3.{MARKER}"}}},
            {"Condition": {"StringEquals": {"kms:ViaService": "s3.unknown"}}},
        ),
        (
            {"Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::1:role/{MARKER}"}}},
            {"Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::1:role/unknown"}}},
        ),
    ],
)
def test_harmless(statement: dict[str, Any], settled: dict[str, Any]) -> None:
    interp = _one(statement)
    assert [r.policy for r in interp.readings] == [{"Statement": [settled]}]
    assert interp.harmless == ("unknown",)


@pytest.mark.parametrize(
    ("statement", "role"),
    [
        ({"Principal": {"AWS": MARKER}}, Role.ACCOUNT),
        ({"Principal": {"AWS": f"arn:aws:iam::{MARKER}:root"}}, Role.ACCOUNT),
        ({"Action": f"kms:{MARKER}"}, Role.ACTION),
        ({"Effect": MARKER}, Role.EFFECT),
        ({"Condition": {"StringEquals": {"kms:CallerAccount": f"{MARKER}"}}}, Role.ACCOUNT),
        ({"Condition": {"StringEquals": {"aws:PrincipalOrgID": f"{MARKER}"}}}, Role.ORG),
    ],
)
def test_deciding(statement: dict[str, Any], role: Role) -> None:
    interp = _one(statement)
    assert interp.roles == (("unknown", role),)
    assert len(interp.readings) == 2


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        (Unknown("`var.policy`"), "the whole policy comes from `var.policy`"),
        ({"Statement": Unknown("`var.st`")}, "the statement list comes from `var.st`"),
    ],
)
def test_shape_unknown(policy: Any, reason: str) -> None:
    with pytest.raises(Unresolved) as exc:
        interpret(policy, "000000000000")
    assert exc.value.reason == reason
