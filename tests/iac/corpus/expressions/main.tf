variable "env" {
  type = string
}

variable "readers" {
  type = list(object({ arn = string }))
  default = [
    { arn = "arn:aws:iam::111122223333:role/a" },
    { arn = "arn:aws:iam::111122223333:role/b" },
  ]
}

resource "aws_iam_role" "app" {
  count = 3
  name  = "app-${count.index}"
}

resource "aws_kms_key" "splat" {
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Principal = { AWS = var.readers[*].arn }, Action = "kms:Decrypt", Resource = "*" }]
  })
}

resource "aws_kms_key" "own_roles" {
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Principal = { AWS = aws_iam_role.app[*].arn }, Action = "kms:Decrypt", Resource = "*" }]
  })
}

resource "aws_kms_key" "by_env" {
  policy = jsonencode({
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = var.env == "dev" ? "*" : "arn:aws:iam::111122223333:root" }
      Action    = "kms:Decrypt"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_key" "for_try" {
  policy = jsonencode({
    Statement = [for r in var.readers : {
      Effect    = "Allow"
      Principal = { AWS = try(r.arn, "*") }
      Action    = can(r.missing) ? "kms:*" : "kms:Decrypt"
      Resource  = "*"
    }]
  })
}
