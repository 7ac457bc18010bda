module "keys" {
  source    = "./modules/kms"
  for_each  = local.tenants
  name      = each.key
  principal = each.value
}
