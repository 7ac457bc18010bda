"""Modules installed by `terraform init` (registry, git): judged with the arguments of the
calling block and reported there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = """module "kms" {
  source  = "example/kms/aws"
  version = "~> 3.0"

  key_statements = [
    {
      sid        = "Readers"
      actions    = ["kms:Decrypt"]
      resources  = ["*"]
      principals = [{ type = "AWS", identifiers = var.readers }]
    }
  ]
}

variable "readers" {
  default = ["*"]
}
"""

# A small module in the shape of the popular registry KMS modules.
MODULE_MAIN = """data "aws_caller_identity" "current" {
  count = var.create ? 1 : 0
}

locals {
  account_id = try(data.aws_caller_identity.current[0].account_id, "")
}

resource "aws_kms_key" "this" {
  count  = var.create ? 1 : 0
  policy = coalesce(var.policy, data.aws_iam_policy_document.this[0].json)
}

data "aws_iam_policy_document" "this" {
  count = var.create ? 1 : 0

  dynamic "statement" {
    for_each = var.enable_default_policy ? [1] : []
    content {
      sid       = "Default"
      actions   = ["kms:*"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = ["arn:aws:iam::${local.account_id}:root"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.key_statements
    content {
      sid       = try(statement.value.sid, null)
      actions   = try(statement.value.actions, null)
      effect    = try(statement.value.effect, null)
      resources = try(statement.value.resources, null)
      dynamic "principals" {
        for_each = try(statement.value.principals, [])
        content {
          type        = principals.value.type
          identifiers = principals.value.identifiers
        }
      }
    }
  }
}
"""

MODULE_VARIABLES = """variable "create" {
  default = true
}
variable "policy" {
  default = null
}
variable "enable_default_policy" {
  default = true
}
variable "key_statements" {
  default = []
}
"""


def _tree(root: Path) -> None:
    (root / "main.tf").write_text(ROOT)
    installed = root / ".terraform" / "modules" / "kms"
    installed.mkdir(parents=True)
    (installed / "main.tf").write_text(MODULE_MAIN)
    (installed / "variables.tf").write_text(MODULE_VARIABLES)
    manifest = {
        "Modules": [
            {"Key": "", "Source": "", "Dir": "."},
            {
                "Key": "kms",
                "Source": "registry.terraform.io/example/kms/aws",
                "Version": "3.1.0",
                "Dir": ".terraform/modules/kms",
            },
        ]
    }
    (root / ".terraform" / "modules" / "modules.json").write_text(json.dumps(manifest))


def test_installed_module_is_judged_at_the_call(kmsguard: Any, tmp_path: Path) -> None:
    _tree(tmp_path)
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    (f,) = run.json()
    assert (Path(f["file"]).name, f["line"]) == ("main.tf", 1)
    assert f["resource"] == "module.kms.aws_kms_key.this"
    assert f["verdict"] == "public"
    assert f["exposures"][0]["statements"] == ["Readers"]
    assert any("registry.terraform.io/example/kms/aws" in n for n in f["notes"])


def test_installed_module_with_safe_arguments(kmsguard: Any, tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "terraform.tfvars").write_text('readers = ["arn:aws:iam::123456789012:role/app"]\n')
    run = kmsguard("scan", "iac", tmp_path, "--account", "123456789012", "--format", "json")
    (f,) = run.json()
    assert f["verdict"] == "private"


def test_without_terraform_init_nothing_is_invented(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(ROOT)
    assert kmsguard("scan", "iac", tmp_path, "--format", "json").json() == []
