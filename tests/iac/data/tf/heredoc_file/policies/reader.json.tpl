{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "${reader}"}, "Action": "kms:Decrypt", "Resource": "*"}
  ]
}
