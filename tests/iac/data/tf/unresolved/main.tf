variable "consumer_account" {
  type = string
}

resource "aws_kms_key" "needs_input" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${var.consumer_account}:root" }
      Action    = "kms:Decrypt"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_key" "from_module" {
  policy = module.policy.json
}
