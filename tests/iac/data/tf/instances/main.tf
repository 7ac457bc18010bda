variable "consumers" {
  type = map(string)
  default = {
    analytics = "arn:aws:iam::123456789012:role/analytics"
    vendor    = "arn:aws:iam::999900001111:role/vendor"
  }
}

# one key per consumer: the vendor's instance is cross-account
resource "aws_kms_key" "per_consumer" {
  for_each = var.consumers
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Use-${each.key}"
      Effect    = "Allow"
      Principal = { AWS = each.value }
      Action    = "kms:Decrypt"
      Resource  = "*"
    }]
  })
}

variable "open_replicas" {
  default = 2
}

resource "aws_kms_key" "counted" {
  count = var.open_replicas
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Sid = "R${count.index}", Effect = "Allow", Principal = "*", Action = "kms:Decrypt", Resource = "*" }]
  })
}
