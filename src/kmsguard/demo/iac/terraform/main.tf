# Two keys for the reporting pipeline (kmsguard demo).

data "aws_caller_identity" "current" {}

# Exposed: any principal of any account, no condition pins the caller.
data "aws_iam_policy_document" "reports_open" {
  statement {
    sid       = "KeyAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "ReportReaders"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
}

resource "aws_kms_key" "reports" {
  description         = "monthly reports"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.reports_open.json
}

# Safe: the same wildcard, pinned to callers of the deploying account.
data "aws_iam_policy_document" "reports_pinned" {
  statement {
    sid       = "KeyAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "ReportReadersOwnAccount"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "reports_archive" {
  description         = "archived reports"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.reports_pinned.json
}
