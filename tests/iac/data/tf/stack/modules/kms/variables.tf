variable "partner" {
  type    = string
  default = "555566667777"
}
