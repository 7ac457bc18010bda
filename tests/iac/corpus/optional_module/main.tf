module "kms" {
  source = "./modules/kms"
  key_statements = [
    { sid = "Readers", principals = [{ type = "AWS", identifiers = ["arn:aws:iam::444455556666:root"] }] },
    { sid = "Admins", actions = ["kms:*"], principals = [{ type = "AWS", identifiers = ["arn:aws:iam::${data.aws_caller_identity.me.account_id}:root"] }] },
  ]
}

data "aws_caller_identity" "me" {}
