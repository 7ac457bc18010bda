"""Real-world shapes beyond the basic forms: organization conditions, macros and unknown
tags, CDK assembly folders, tool files that are not templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ORG_TF = """
data "aws_organizations_organization" "this" {}

resource "aws_kms_key" "org_wide" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = "*"
      Action    = ["kms:Decrypt"]
      Resource  = "*"
      Condition = {
        StringEquals = { "aws:PrincipalOrgID" = data.aws_organizations_organization.this.id }
      }
    }]
  })
}
"""


def test_own_organization_condition_is_private(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(ORG_TF)
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    (f,) = run.json()
    assert (f["verdict"], f["line"]) == ("private", 4)
    assert run.code == 0


def test_unknown_tag_is_unresolved_not_a_parse_error(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "Resources:\n"
        "  K:\n"
        "    Type: AWS::KMS::Key\n"
        "    Properties:\n"
        "      KeyPolicy: !Rain::Embed policy.json\n"
        "  Other:\n"
        "    Type: AWS::S3::Bucket\n"
        "    Properties:\n"
        "      BucketName: !MyMacro name\n"
    )
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["verdict"] == "unresolved"
    assert "Rain::Embed" in f["errors"][0]


def test_string_key_policy_with_sub(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "Resources:\n"
        "  K:\n"
        "    Type: AWS::KMS::Key\n"
        "    Properties:\n"
        "      KeyPolicy: !Sub |\n"
        '        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",\n'
        '          "Principal": {"AWS": "arn:aws:iam::${AWS::AccountId}:root"},\n'
        '          "Action": "kms:*", "Resource": "*"}]}\n'
    )
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert (f["verdict"], f["line"]) == ("private", 2)


def test_cdk_assembly_and_tool_files(kmsguard: Any, tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    out.mkdir()
    template = {
        "Resources": {
            "Key1": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ],
                    }
                },
            }
        }
    }
    (out / "App.template.json").write_text(json.dumps(template, indent=1))
    (out / "tree.json").write_text(json.dumps({"AWS::KMS::Key": "x"}) + " " * 6_000_000)
    (tmp_path / "package-lock.json").write_text("{}" + " " * 6_000_000)
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    (f,) = run.json()
    assert (f["resource"], f["verdict"]) == ("Key1", "public")


HARDCODED_TF = """
resource "aws_kms_key" "hardcoded" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Enable IAM User Permissions"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::123456789012:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "Partner"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::210987654321:root" }
        Action    = "kms:Decrypt"
        Resource  = "*"
      },
    ]
  })
}
"""


def test_literal_owner_account_is_read_from_the_admin_statement(
    kmsguard: Any, tmp_path: Path
) -> None:
    """Templates that hardcode their own account id: judged as `kmsguard check` does."""
    (tmp_path / "main.tf").write_text(HARDCODED_TF)
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["verdict"] == "cross-account"
    assert [e["principals"] for e in f["exposures"]] == [["210987654321"]]
    assert any("owner account 123456789012" in n for n in f["notes"])
    # an explicit --account wins: then the admin account itself is outside
    (g,) = kmsguard("scan", "iac", tmp_path, "--account", "111111111111", "--format", "json").json()
    assert {p for e in g["exposures"] for p in e["principals"]} == {
        "123456789012",
        "210987654321",
    }


ENV_TEMPLATE = """
Parameters:
  Env:
    Type: String
    AllowedValues: [dev, prod]
Mappings:
  Readers:
    dev: {Principal: "*"}
    prod: {Principal: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
Resources:
  EnvKey:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: !FindInMap [Readers, !Ref Env, Principal]
            Action: kms:Decrypt
            Resource: "*"
"""


def test_parameter_without_default_judged_for_each_allowed_value(
    kmsguard: Any, tmp_path: Path
) -> None:
    (tmp_path / "t.yaml").write_text(ENV_TEMPLATE)
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["verdict"] == "public"
    assert f["details"]["branch"] == "parameter Env=dev"
    assert any("parameter Env=prod: private" in n for n in f["notes"])


def test_template_file_data_source_and_null_effect(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "policy.json.tpl").write_text(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",'
        ' "Principal": {"AWS": "arn:aws:iam::${partner}:root"},'
        ' "Action": "kms:Decrypt", "Resource": "*"}]}'
    )
    (tmp_path / "main.tf").write_text(
        'data "template_file" "policy" {\n'
        '  template = file("${path.module}/policy.json.tpl")\n'
        '  vars = { partner = "111122223333" }\n'
        "}\n"
        'resource "aws_kms_key" "legacy" {\n'
        "  policy = data.template_file.policy.rendered\n"
        "}\n"
        'data "aws_iam_policy_document" "d" {\n'
        "  statement {\n"
        "    effect    = null\n"
        '    actions   = ["kms:Decrypt"]\n'
        '    resources = ["*"]\n'
        "    principals {\n"
        '      type        = "AWS"\n'
        '      identifiers = ["*"]\n'
        "    }\n"
        "  }\n"
        "}\n"
        'resource "aws_kms_key" "null_effect" {\n'
        "  policy = data.aws_iam_policy_document.d.json\n"
        "}\n"
    )
    by = kmsguard("scan", "iac", tmp_path, "--format", "json").by_resource()
    assert by["aws_kms_key.legacy"]["verdict"] == "cross-account"
    assert by["aws_kms_key.null_effect"]["verdict"] == "public"


def test_yaml_scalars_are_policy_strings(kmsguard: Any, tmp_path: Path) -> None:
    """Unquoted YAML account ids (ints), versions (dates) and booleans are their text."""
    (tmp_path / "t.yaml").write_text(
        "AWSTemplateFormatVersion: 2010-09-09\n"
        "Resources:\n"
        "  K:\n"
        "    Type: AWS::KMS::Key\n"
        "    Properties:\n"
        "      KeyPolicy:\n"
        "        Version: 2012-10-17\n"
        "        Statement:\n"
        "          - Effect: Allow\n"
        "            Principal: {AWS: 210987654321}\n"
        "            Action: kms:Encrypt\n"
        '            Resource: "*"\n'
    )
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["verdict"] == "cross-account"
    assert f["exposures"][0]["principals"] == ["210987654321"]


FOREACH = """
Transform: AWS::LanguageExtensions
Parameters:
  Teams:
    Type: CommaDelimitedList
    Default: "payments,vendor"
  Unknown:
    Type: CommaDelimitedList
Resources:
  Fn::ForEach::TeamKeys:
    - Team
    - !Ref Teams
    - ${Team}Key:
        Type: AWS::KMS::Key
        Properties:
          KeyPolicy:
            Version: "2012-10-17"
            Statement:
              - Sid: !Sub "Use-${Team}"
                Effect: Allow
                Principal: !If [IsOpen, "*", {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}]
                Action: kms:Decrypt
                Resource: "*"
  Fn::ForEach::Others:
    - Name
    - !Ref Unknown
    - ${Name}Key:
        Type: AWS::KMS::Key
"""


def test_foreach_loops_are_unrolled(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(FOREACH)
    by = kmsguard("scan", "iac", tmp_path, "--format", "json").by_resource()
    assert set(by) == {"paymentsKey", "vendorKey", "${Name}Key"}
    assert by["paymentsKey"]["verdict"] == "public"
    assert by["paymentsKey"]["line"] == 10  # the loop's line
    assert by["${Name}Key"]["verdict"] == "unresolved"


SERVERLESS = """
service: billing
provider:
  name: aws
  stage: ${opt:stage, 'dev'}
custom:
  partner: "111122223333"
resources:
  Resources:
    InvoiceKey:
      Type: AWS::KMS::Key
      Properties:
        KeyPolicy:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal:
                AWS: arn:aws:iam::${aws:accountId}:root
              Action: kms:*
              Resource: "*"
            - Effect: Allow
              Principal:
                AWS: arn:aws:iam::${self:custom.partner}:role/${self:service}-${sls:stage}
              Action: kms:Decrypt
              Resource: "*"
            - Effect: Allow
              Principal:
                AWS: arn:aws:iam::${aws:accountId}:role/${env:ROLE_NAME}
              Action: kms:Encrypt
              Resource: "*"
"""


def test_serverless_framework_resources(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "serverless.yml").write_text(SERVERLESS)
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert (f["resource"], f["line"], f["verdict"]) == ("InvoiceKey", 10, "cross-account")
    assert [e["principals"] for e in f["exposures"]] == [["111122223333"]]
    assert any("ROLE_NAME" in n for n in f["notes"])


TFVARS_MAIN = """
variable "reader_account" {
  type = string
}
variable "admin_role" {
  type    = string
  default = "admin"
}
data "aws_caller_identity" "c" {}
resource "aws_kms_key" "shared" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = {
          AWS = "arn:aws:iam::${data.aws_caller_identity.c.account_id}:role/${var.admin_role}"
        }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${var.reader_account}:root" }
        Action    = "kms:Decrypt"
        Resource  = "*"
      },
    ]
  })
}
"""


def test_tfvars_files_set_variables(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(TFVARS_MAIN)
    # without a value: the reader's account is unknown, and the verdict depends on it
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["verdict"] == "cross-account"
    assert (
        "private if `var.reader_account` is one of your accounts, cross-account otherwise"
        in f["notes"]
    )
    (tmp_path / "terraform.tfvars").write_text('reader_account = "111122223333"\n')
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["verdict"] == "cross-account"
    assert f["exposures"][0]["principals"] == ["111122223333"]
    assert any("terraform.tfvars" in n for n in f["notes"])
    # *.auto.tfvars.json is read after terraform.tfvars and wins
    (tmp_path / "zz.auto.tfvars.json").write_text('{"reader_account": "444455556666"}')
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["exposures"][0]["principals"] == ["444455556666"]


def test_custom_resource_values_are_unknown(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "Resources:\n"
        "  Lookup:\n"
        "    Type: Custom::AccountLookup\n"
        "    Properties: {ServiceToken: arn:aws:lambda:us-east-1:123456789012:function:x}\n"
        "  K:\n"
        "    Type: AWS::KMS::Key\n"
        "    Properties:\n"
        "      KeyPolicy:\n"
        "        Statement:\n"
        "          - Effect: Allow\n"
        "            Principal: {AWS: !GetAtt Lookup.ConsumerArn}\n"
        "            Action: kms:Decrypt\n"
        '            Resource: "*"\n'
    )
    (f,) = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert f["verdict"] == "unresolved"
    assert "custom resource" in f["errors"][0]


def test_outputs_of_local_modules(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "partner").mkdir()
    (tmp_path / "main.tf").write_text(
        'module "roles" {\n  source = "./roles"\n  name   = "app"\n}\n'
        'module "partner" {\n  source = "./partner"\n}\n'
        'module "remote" {\n  source = "terraform-aws-modules/iam/aws"\n}\n'
        'resource "aws_kms_key" "k" {\n'
        "  policy = jsonencode({\n"
        '    Version = "2012-10-17"\n'
        "    Statement = [\n"
        '      { Effect = "Allow", Principal = { AWS = module.roles.arn },'
        ' Action = "kms:*", Resource = "*" },\n'
        '      { Effect = "Allow", Principal = { AWS = module.partner.reader },'
        ' Action = "kms:Decrypt", Resource = "*" },\n'
        "    ]\n"
        "  })\n"
        "}\n"
        'resource "aws_kms_key" "remote" {\n'
        "  policy = jsonencode({\n"
        '    Statement = [{ Effect = "Allow", Principal = { AWS = module.remote.arn },'
        ' Action = "kms:*", Resource = "*" }]\n'
        "  })\n"
        "}\n"
    )
    (tmp_path / "roles" / "main.tf").write_text(
        'variable "name" {}\n'
        'resource "aws_iam_role" "r" {\n  name = var.name\n}\n'
        'output "arn" {\n  value = aws_iam_role.r.arn\n}\n'
    )
    (tmp_path / "partner" / "outputs.tf").write_text(
        'output "reader" {\n  value = "arn:aws:iam::111122223333:role/reader"\n}\n'
    )
    by = kmsguard("scan", "iac", tmp_path, "--format", "json").by_resource()
    k = by["aws_kms_key.k"]
    assert k["verdict"] == "cross-account"
    assert [e["principals"] for e in k["exposures"]] == [["111122223333"]]
    remote = by["aws_kms_key.remote"]
    assert remote["verdict"] == "cross-account"
    assert any("`module.remote.arn` is one of your accounts" in n for n in remote["notes"])


def test_module_called_with_for_each(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "kms").mkdir()
    (tmp_path / "main.tf").write_text(
        'module "keys" {\n'
        '  source   = "./kms"\n'
        "  for_each = {\n"
        '    internal = "arn:aws:iam::123456789012:role/app"\n'
        '    vendor   = "arn:aws:iam::999900001111:role/vendor"\n'
        "  }\n"
        "  reader = each.value\n"
        "}\n"
    )
    (tmp_path / "kms" / "main.tf").write_text(
        'variable "reader" {}\n'
        'resource "aws_kms_key" "this" {\n'
        "  policy = jsonencode({\n"
        '    Statement = [{ Effect = "Allow", Principal = { AWS = var.reader },'
        ' Action = "kms:Decrypt", Resource = "*" }]\n'
        "  })\n"
        "}\n"
    )
    run = kmsguard("scan", "iac", tmp_path, "--account", "123456789012", "--format", "json")
    (f,) = run.json()
    assert f["verdict"] == "cross-account"
    assert f["details"]["branch"].startswith('module.keys["vendor"]')


def test_for_each_policy_documents_by_key(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'variable "keys" {\n'
        "  default = {\n"
        '    internal = "arn:aws:iam::123456789012:role/app"\n'
        '    shared   = "*"\n'
        "  }\n"
        "}\n"
        'data "aws_iam_policy_document" "p" {\n'
        "  for_each = var.keys\n"
        "  statement {\n"
        '    actions   = ["kms:Decrypt"]\n'
        '    resources = ["*"]\n'
        "    principals {\n"
        '      type        = "AWS"\n'
        "      identifiers = [each.value]\n"
        "    }\n"
        "  }\n"
        "}\n"
        'resource "aws_kms_key" "k" {\n'
        "  for_each = var.keys\n"
        "  policy   = data.aws_iam_policy_document.p[each.key].json\n"
        "}\n"
    )
    run = kmsguard("scan", "iac", tmp_path, "--account", "123456789012", "--format", "json")
    (f,) = run.json()
    assert f["verdict"] == "public"
    assert f["details"]["branch"] == 'instance ["shared"]'
    assert any('instance ["internal"]: private' in n for n in f["notes"])


def test_a_tf_file_named_alone_reads_its_module(kmsguard: Any, tmp_path: Path) -> None:
    """pre-commit passes changed files: the variables in a sibling file still count, and
    the sibling's own keys are not reported."""
    (tmp_path / "variables.tf").write_text('variable "partner" {\n  default = "111122223333"\n}\n')
    (tmp_path / "other.tf").write_text('resource "aws_kms_key" "other" {}\n')
    (tmp_path / "kms.tf").write_text(
        'resource "aws_kms_key" "k" {\n'
        "  policy = jsonencode({\n"
        '    Statement = [{ Effect = "Allow", Principal = { AWS = var.partner },'
        ' Action = "kms:Decrypt", Resource = "*" }]\n'
        "  })\n"
        "}\n"
    )
    run = kmsguard("scan", "iac", tmp_path / "kms.tf", "--format", "json")
    (f,) = run.json()
    assert (f["resource"], f["verdict"]) == ("aws_kms_key.k", "cross-account")
