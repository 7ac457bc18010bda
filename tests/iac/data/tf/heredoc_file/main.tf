variable "partner_account" {
  type    = string
  default = "111122223333"
}

resource "aws_kms_key" "heredoc_partner" {
  policy = <<-POLICY
    {
      "Version": "2012-10-17",
      "Statement": [
        {
          "Sid": "Partner",
          "Effect": "Allow",
          "Principal": {"AWS": "arn:aws:iam::${var.partner_account}:root"},
          "Action": ["kms:Decrypt", "kms:DescribeKey"],
          "Resource": "*"
        }
      ]
    }
  POLICY
}

resource "aws_kms_key" "from_file" {
  policy = file("${path.module}/policies/open.json")
}

resource "aws_kms_replica_key" "from_template" {
  primary_key_arn = "arn:aws:kms:us-east-1:123456789012:key/mrk-1"
  policy = templatefile("${path.module}/policies/reader.json.tpl", {
    reader = "arn:aws:iam::444455556666:role/reader"
  })
}
