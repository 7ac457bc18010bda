data "aws_caller_identity" "me" {}

locals {
  tenants = {
    own     = "arn:aws:iam::${data.aws_caller_identity.me.account_id}:root"
    partner = "arn:aws:iam::444455556666:root"
  }
}

module "vpc" {
  source = "terraform-aws-modules/vpc/aws"
}
