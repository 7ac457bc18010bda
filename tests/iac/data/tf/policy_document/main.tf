data "aws_caller_identity" "me" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.me.account_id
  root_arn   = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"
}

data "aws_iam_policy_document" "base" {
  statement {
    sid       = "Root"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }
}

# Conditioned: any principal, but only of the own account.
data "aws_iam_policy_document" "guarded" {
  source_policy_documents = [data.aws_iam_policy_document.base.json]

  statement {
    sid       = "AnyoneInAccount"
    actions   = ["kms:Decrypt", "kms:Encrypt"]
    resources = ["*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "guarded" {
  policy = data.aws_iam_policy_document.guarded.json
}

# The override replaces the guarded statement (same sid) with an unconditioned one.
data "aws_iam_policy_document" "overridden" {
  source_policy_documents = [data.aws_iam_policy_document.guarded.json]
  override_policy_documents = [jsonencode({
    Statement = [{
      Sid       = "AnyoneInAccount"
      Effect    = "Allow"
      Principal = "*"
      Action    = "kms:Decrypt"
      Resource  = "*"
    }]
  })]
}

resource "aws_kms_key" "overridden" {
  policy = data.aws_iam_policy_document.overridden.json
}

data "aws_iam_policy_document" "not_principals" {
  statement {
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    not_principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.account_id}:role/blocked"]
    }
  }
}

resource "aws_kms_key" "not_principals" {
  policy = data.aws_iam_policy_document.not_principals.json
}

resource "aws_kms_key" "separate" {
  description = "policy attached by aws_kms_key_policy"
}

resource "aws_kms_key_policy" "separate" {
  key_id = aws_kms_key.separate.id
  policy = data.aws_iam_policy_document.dynamic.json
}

variable "readers" {
  default = ["arn:aws:iam::777788889999:role/analytics"]
}

data "aws_iam_policy_document" "dynamic" {
  source_policy_documents = [data.aws_iam_policy_document.base.json]
  dynamic "statement" {
    for_each = var.readers
    content {
      sid       = "Reader${statement.key}"
      actions   = ["kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = [statement.value]
      }
    }
  }
}
