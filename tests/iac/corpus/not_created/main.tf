variable "create" {
  default = false
}

variable "grants" {
  default = null
}

resource "aws_kms_key" "optional" {
  count  = var.create ? 1 : 0
  policy = jsonencode({ Statement = [{ Effect = "Allow", Principal = "*", Action = "kms:*", Resource = "*" }] })
}

resource "aws_kms_grant" "this" {
  for_each          = var.grants != null ? var.grants : {}
  key_id            = "k"
  grantee_principal = each.value.grantee_principal
  retiring_principal = each.value.retiring_principal
  operations        = each.value.operations
}
