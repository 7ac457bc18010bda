variable "name" {}
variable "principal" {
  default = "arn:aws:iam::111122223333:root"
}

resource "aws_kms_key" "k" {
  description = var.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = var.principal }
      Action    = "kms:Decrypt"
      Resource  = "*"
    }]
  })
}
