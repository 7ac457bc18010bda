module "kms" {
  source  = "./modules/kms"
  partner = "111122223333"
}
