module "kms" {
  source  = "terraform-aws-modules/kms/aws"
  version = "~> 3.0"
  key_statements = [{ principals = [{ type = "AWS", identifiers = ["*"] }] }]
}

module "network" {
  source = "git::https://example.com/network.git"
}
