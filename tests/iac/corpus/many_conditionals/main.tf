data "aws_caller_identity" "me" {}
variable "c0" {
  type = bool
}
variable "c1" {
  type = bool
}
variable "c2" {
  type = bool
}
variable "c3" {
  type = bool
}
variable "c4" {
  type = bool
}
variable "c5" {
  type = bool
}
resource "aws_kms_key" "k" {
  policy = jsonencode({
    Statement = [
    { Effect = "Allow", Action = "kms:Decrypt", Resource = "*", Principal = { AWS = var.c0 ? "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/a0" : "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/b0" } },
    { Effect = "Allow", Action = "kms:Decrypt", Resource = "*", Principal = { AWS = var.c1 ? "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/a1" : "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/b1" } },
    { Effect = "Allow", Action = "kms:Decrypt", Resource = "*", Principal = { AWS = var.c2 ? "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/a2" : "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/b2" } },
    { Effect = "Allow", Action = "kms:Decrypt", Resource = "*", Principal = { AWS = var.c3 ? "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/a3" : "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/b3" } },
    { Effect = "Allow", Action = "kms:Decrypt", Resource = "*", Principal = { AWS = var.c4 ? "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/a4" : "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/b4" } },
    { Effect = "Allow", Action = "kms:Decrypt", Resource = "*", Principal = { AWS = var.c5 ? "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/a5" : "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/b5" } }
    ]
  })
}
