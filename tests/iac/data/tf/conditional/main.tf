variable "share_publicly" {
  type = bool
}

locals {
  private_statement = {
    Sid       = "Root"
    Effect    = "Allow"
    Principal = { AWS = "arn:aws:iam::123456789012:root" }
    Action    = "kms:*"
    Resource  = "*"
  }
}

resource "aws_kms_key" "maybe_public" {
  # kmsguard:ignore KMS001 reviewed: only the demo stack sets share_publicly
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = var.share_publicly ? [local.private_statement, {
      Sid       = "Public"
      Effect    = "Allow"
      Principal = "*"
      Action    = "kms:Decrypt"
      Resource  = "*"
    }] : [local.private_statement]
  })
}
