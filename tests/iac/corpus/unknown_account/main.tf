data "aws_caller_identity" "me" {}
data "aws_organizations_organization" "org" {}
data "aws_secretsmanager_secret_version" "cfg" {
  secret_id = "kms-config"
}

variable "trusted_account" {
  type = string
}

resource "aws_kms_key" "partner" {
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Principal = { AWS = "arn:aws:iam::${var.trusted_account}:root" }, Action = "kms:Decrypt", Resource = "*" }]
  })
}

resource "aws_kms_key" "open" {
  policy = jsonencode({
    Statement = [{
      Effect = "Allow", Principal = "*", Action = "kms:Decrypt", Resource = "*"
      Condition = { StringEquals = { "kms:EncryptionContext:app" = data.aws_secretsmanager_secret_version.cfg.secret_string } }
    }]
  })
}

resource "aws_kms_key" "org" {
  policy = jsonencode({
    Statement = [{
      Effect = "Allow", Principal = "*", Action = "kms:Decrypt", Resource = "*"
      Condition = { StringEquals = { "aws:PrincipalOrgID" = data.aws_organizations_organization.org.id } }
    }]
  })
}

resource "aws_kms_key" "whole" {
  policy = data.aws_secretsmanager_secret_version.cfg.secret_string
}

variable "grant_operations" {
  type = list(string)
}

resource "aws_kms_grant" "partner" {
  name              = "partner-${var.trusted_account}"
  key_id            = aws_kms_key.partner.key_id
  grantee_principal = "arn:aws:iam::${var.trusted_account}:role/reader"
  operations        = var.grant_operations
}
