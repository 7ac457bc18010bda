locals {
  readers = {
    a = "arn:aws:iam::111122223333:role/a"
    b = "arn:aws:iam::111122223333:role/b"
    c = "arn:aws:iam::111122223333:role/c"
    d = "arn:aws:iam::111122223333:role/d"
    e = "arn:aws:iam::111122223333:role/e"
    f = "arn:aws:iam::111122223333:role/f"
    g = "arn:aws:iam::111122223333:role/g"
    h = "arn:aws:iam::111122223333:role/h"
    z = "*"
  }
}

resource "aws_kms_key" "per_reader" {
  for_each = local.readers
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Principal = { AWS = each.value }, Action = "kms:Decrypt", Resource = "*" }]
  })
}

resource "aws_kms_key" "unknown_set" {
  for_each = var.tenants
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Principal = { AWS = each.value }, Action = "kms:Decrypt", Resource = "*" }]
  })
}

variable "tenants" {
  type = map(string)
}
