variable "key_statements" {
  type = list(object({
    sid        = optional(string)
    effect     = optional(string, "Allow")
    actions    = optional(list(string), ["kms:Decrypt"])
    conditions = optional(list(object({ test = string, variable = string, values = list(string) })), [])
    principals = optional(list(object({ type = string, identifiers = list(string) })), [])
  }))
  default = []
}

data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    for_each = var.key_statements
    content {
      sid       = try(statement.value.sid, null)
      effect    = statement.value.effect
      actions   = statement.value.actions
      resources = ["*"]
      dynamic "principals" {
        for_each = statement.value.principals
        content {
          type        = principals.value.type
          identifiers = principals.value.identifiers
        }
      }
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_kms_key" "this" {
  policy = trimspace(data.aws_iam_policy_document.this.json)
}
