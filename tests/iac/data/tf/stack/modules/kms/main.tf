data "aws_iam_policy_document" "this" {
  statement {
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [var.partner]
    }
  }
}

resource "aws_kms_key" "this" {
  policy = data.aws_iam_policy_document.this.json
}
