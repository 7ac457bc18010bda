"""Shapes met when `scan iac` was run over public Terraform and CloudFormation
repositories (own minimal reproductions, no third-party text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: A whole CloudFormation JSON template with no KMS key: an IAM role whose inline policy
#: grants a `kms:` action and whose trust policy names a principal.
CFN_WITHOUT_KEY = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                },
                "Policies": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "kms:Decrypt",
                                    "Resource": {"Fn::GetAtt": ["Key", "Arn"]},
                                }
                            ]
                        },
                    }
                ],
            },
        }
    },
}


def test_templates_without_keys_are_not_called_fragments(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "app.json").write_text(json.dumps(CFN_WITHOUT_KEY))
    # the same template with a duplicate key (CloudFormation keeps the last): still no
    # KMS key policy, so no error either
    (tmp_path / "dup.json").write_text(json.dumps(CFN_WITHOUT_KEY)[:-1] + ', "Resources": {}}')
    fragment = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    (tmp_path / "key-policy.json").write_text(json.dumps(fragment))
    run = kmsguard("scan", "iac", tmp_path)
    assert run.code == 0, run.out + run.err
    assert "app.json" not in run.out + run.err
    assert "dup.json" not in run.out + run.err
    assert "key-policy.json: a policy with CloudFormation intrinsics" in run.out + run.err


def test_unknown_names_are_readable_in_the_report(kmsguard: Any, tmp_path: Path) -> None:
    # replica keys over a region list without default; a CloudFormation parameter as the
    # account of a principal
    (tmp_path / "main.tf").write_text(
        'variable "regions" { type = list(string) }\n'
        'resource "aws_kms_replica_key" "r" {\n'
        "  for_each = toset(var.regions)\n"
        '  policy = jsonencode({ Statement = [{ Effect = "Allow", Action = "kms:Decrypt",\n'
        '    Resource = "*", Principal = { AWS = "arn:aws:iam::444455556666:root" } }] })\n'
        "}\n"
    )
    (tmp_path / "dest.yaml").write_text(
        "Parameters:\n  SourceAccount: { Type: String }\nResources:\n  Key:\n"
        "    Type: AWS::KMS::Key\n    Properties:\n      KeyPolicy:\n        Statement:\n"
        "          - Effect: Allow\n"
        "            Principal: { AWS: !Sub 'arn:aws:iam::${SourceAccount}:root' }\n"
        "            Action: kms:Decrypt\n            Resource: '*'\n"
    )
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    found = run.by_resource()
    assert found["aws_kms_replica_key.r"]["details"]["branch"] == "instance [<var.regions>]"
    (exposure,) = found["Key"]["exposures"]
    assert exposure["principals"] == ["<parameter SourceAccount>"]
    text = kmsguard("scan", "iac", tmp_path).out
    assert "\\u27e6" not in text
    assert "\u27e6" not in text
    assert "<parameter `" not in text


KEY_WITH_ROLE_LISTS = """
variable "readers" { type = list(string) }
variable "writers" { type = list(string) }
variable "granters" {
  type    = list(string)
  default = []
}
data "aws_caller_identity" "current" {}
data "aws_iam_policy_document" "key" {
  statement {
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = concat(var.readers, var.writers)
    }
  }
  statement {
    actions   = ["kms:Encrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
  statement {
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = %s
    }
  }
}
resource "aws_kms_key" "k" {
  policy = data.aws_iam_policy_document.key.json
}
"""


def test_dependency_sentence_only_when_it_says_something(kmsguard: Any, tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.mkdir()
    (public / "main.tf").write_text(
        KEY_WITH_ROLE_LISTS % '["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]'
    )
    (f,) = kmsguard("scan", "iac", public, "--format", "json").json()
    assert f["verdict"] == "public"
    assert (
        "public whatever `var.readers`, `var.writers` are (known only at deployment)" in f["notes"]
    )
    # the rendered policy has an empty principal list (the default of `granters`): the
    # error says so, and no sentence blames the variables that did not cause it
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "main.tf").write_text(KEY_WITH_ROLE_LISTS % "var.granters")
    (f,) = kmsguard("scan", "iac", empty, "--format", "json").json()
    assert f["verdict"] == "error"
    assert not [n for n in f["notes"] if "whatever" in n], f["notes"]


def test_plan_lines_of_instances_with_string_keys(kmsguard: Any, tmp_path: Path) -> None:
    # a plan pretty-printed (`jq .`): an instance key is written `c[\"x\"]` in the JSON
    policy = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
    )
    changes = [
        {
            "address": address,
            "mode": "managed",
            "type": "aws_kms_key",
            "name": "c",
            "change": {"actions": ["create"], "after": {"policy": policy}},
        }
        for address in ("aws_kms_key.a", 'module.m.aws_kms_key.c["x"]')
    ]
    plan = {"format_version": "1.2", "resource_changes": changes}
    (tmp_path / "plan.json").write_text(json.dumps(plan, indent=2))
    found = kmsguard("scan", "iac", tmp_path, "--format", "json").by_resource()
    text = (tmp_path / "plan.json").read_text().splitlines()
    for address, f in found.items():
        assert json.dumps(address) in text[f["line"] - 1], address


def test_terragrunt_kms_configurations_are_named(kmsguard: Any, tmp_path: Path) -> None:
    kms = tmp_path / "live" / "prod" / "kms"
    s3 = tmp_path / "live" / "prod" / "s3"
    kms.mkdir(parents=True)
    s3.mkdir(parents=True)
    (kms / "terragrunt.hcl").write_text(
        'terraform {\n  source = "git::https://example.com/modules.git//kms-key?ref=v1"\n}\n'
        'inputs = {\n  readers = ["arn:aws:iam::444455556666:root"]\n}\n'
    )
    # a module that only takes a key ARN is not a KMS module
    (s3 / "terragrunt.hcl").write_text(
        'terraform {\n  source = "tfr:///example/s3-bucket/aws?version=1.0.0"\n}\n'
        "inputs = {\n  kms_key_arn = dependency.kms.outputs.key_arn\n}\n"
    )
    run = kmsguard("scan", "iac", tmp_path)
    assert run.code == 0
    out = run.out + run.err
    assert f"{kms / 'terragrunt.hcl'}: a Terragrunt configuration that uses a KMS module" in out
    assert "`terraform { source }`" in out
    assert str(s3) not in out


NEWER_HCL = """
variable "partner" {
  type = string
}
locals {
  users = [
    { name = "a", account = "111122223333" },
    { name = "b", account = "111122223333" },
    { name = "c", account = "444455556666" },
  ]
  # grouping mode: account => [names]
  by_account = { for u in local.users : u.account => u.name... }
  statement_sets = [
    [{ Sid = "Root", Effect = "Allow", Action = "kms:*", Resource = "*",
       Principal = { AWS = provider::aws::arn_build("aws", "iam", "", "111122223333", "root") } }],
    [for account, names in local.by_account : {
      Sid = "Users${account}", Effect = "Allow", Action = "kms:Decrypt", Resource = "*",
      Principal = { AWS = [for n in names : "arn:aws:iam::${account}:user/${n}"] } }],
  ]
  tags = [{ team = "x" }, { env = "prod" }]
}
resource "aws_kms_key" "k" {
  # argument expansion: the list's elements are the arguments
  policy = jsonencode({ Statement = concat(local.statement_sets...) })
  tags   = merge(local.tags...)
}
resource "aws_kms_key" "path" {
  policy = jsonencode({ Statement = [{ Effect = "Allow", Action = "kms:Decrypt", Resource = "*",
    Principal = { AWS = provider::aws::trim_iam_role_path(
      "arn:aws:iam::${var.partner}:role/team/app") } }] })
}
"""


def test_grouping_for_expansion_and_provider_functions(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(NEWER_HCL)
    found = kmsguard(
        "scan", "iac", tmp_path, "--account", "111122223333", "--format", "json"
    ).by_resource()
    k = found["aws_kms_key.k"]
    assert k["verdict"] == "cross-account", k
    (exposure,) = k["exposures"]
    assert exposure["principals"] == ["444455556666"]
    assert exposure["statements"] == ["Users444455556666"]
    path = found["aws_kms_key.path"]
    assert path["verdict"] == "cross-account"
    assert path["exposures"][0]["principals"] == ["<var.partner>"]


def test_import_value_of_a_sub_names_the_export(kmsguard: Any, tmp_path: Path) -> None:
    template = (
        "Parameters:\n  LogStack: {{ Type: String{default} }}\n"
        "Resources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      KeyPolicy:\n"
        "        Statement:\n          - Effect: Allow\n            Action: kms:Decrypt\n"
        "            Resource: '*'\n            Principal:\n              AWS: !Sub\n"
        "                - 'arn:aws:iam::${{Acct}}:root'\n"
        "                - Acct: !ImportValue {{ 'Fn::Sub': '${{LogStack}}-AccountId' }}\n"
    )
    (tmp_path / "named.yaml").write_text(template.format(default=", Default: logs"))
    (tmp_path / "computed.yaml").write_text(template.format(default=""))
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    notes = {Path(f["file"]).name: " ".join(f["notes"]) for f in run.json()}
    assert "`Fn::ImportValue logs-AccountId` (from another stack)" in notes["named.yaml"]
    assert "`Fn::ImportValue` of a computed name" in notes["computed.yaml"]
    assert "a value" not in notes["computed.yaml"]
