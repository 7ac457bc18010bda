resource "aws_iam_role" "app" {
  name = "app"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_kms_key" "k" {}

resource "aws_kms_grant" "internal" {
  name              = "app"
  key_id            = aws_kms_key.k.key_id
  grantee_principal = aws_iam_role.app.arn
  operations        = ["Encrypt", "Decrypt"]
}

resource "aws_kms_grant" "external" {
  name              = "vendor"
  key_id            = aws_kms_key.k.key_id
  grantee_principal = "arn:aws:iam::999900001111:role/vendor"
  operations        = ["Decrypt", "GenerateDataKey"]
}
