resource "aws_kms_key" "blank" {
  policy = ""
}

data "aws_iam_policy_document" "p" {
  statement {
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.me.account_id}:root"]
    }
    dynamic "condition" {
      for_each = []
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = ["o-x"]
      }
    }
  }
}

data "aws_caller_identity" "me" {}

resource "aws_kms_key" "no_conditions" {
  policy = data.aws_iam_policy_document.p.json
}
