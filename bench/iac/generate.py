"""Generate a labeled tree of mixed Terraform and CloudFormation files, mostly non-KMS.

Every KMS key carries its ground truth (exposed to principals outside the zone of trust,
or not) in `truth.json` beside the tree, keyed by "path relative to the tree::resource".
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

OWN = "000000000000"  # no --account: the own account is symbolic

# -- KMS forms: (name, exposed, template); {n} makes names unique ----------------------

TF_FORMS: list[tuple[str, bool, str]] = [
    (
        "tf_jsonencode_aws_star",
        True,
        """resource "aws_kms_key" "k{n}" {{
  description = "key {n}"
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Sid       = "All"
      Effect    = "Allow"
      Principal = {{ AWS = "*" }}
      Action    = "kms:*"
      Resource  = "*"
    }}]
  }})
}}
""",
    ),
    (
        "tf_jsonencode_star_string",
        True,
        """resource "aws_kms_key" "k{n}" {{
  policy = jsonencode({{
    Version   = "2012-10-17"
    Statement = [{{ Effect = "Allow", Principal = "*", Action = ["kms:Decrypt"], Resource = "*" }}]
  }})
}}
""",
    ),
    (
        "tf_conditioned_own_account",
        False,
        """data "aws_caller_identity" "c{n}" {{}}
resource "aws_kms_key" "k{n}" {{
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Principal = {{ AWS = "*" }}
      Action    = "kms:*"
      Resource  = "*"
      Condition = {{
        StringEquals = {{ "kms:CallerAccount" = data.aws_caller_identity.c{n}.account_id }}
      }}
    }}]
  }})
}}
""",
    ),
    (
        "tf_heredoc_public",
        True,
        """resource "aws_kms_key" "k{n}" {{
  policy = <<POLICY
{{
  "Version": "2012-10-17",
  "Statement": [
    {{"Effect": "Allow", "Principal": {{"AWS": ["*"]}}, "Action": "kms:Decrypt", "Resource": "*"}}
  ]
}}
POLICY
}}
""",
    ),
    (
        "tf_policy_document_public",
        True,
        """data "aws_iam_policy_document" "p{n}" {{
  statement {{
    actions   = ["kms:Decrypt", "kms:Encrypt"]
    resources = ["*"]
    principals {{
      type        = "AWS"
      identifiers = ["*"]
    }}
  }}
}}
resource "aws_kms_key" "k{n}" {{
  policy = data.aws_iam_policy_document.p{n}.json
}}
""",
    ),
    (
        "tf_not_principal",
        True,
        """resource "aws_kms_key" "k{n}" {{
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect       = "Allow"
      NotPrincipal = {{ AWS = "arn:aws:iam::{own}:role/blocked" }}
      Action       = "kms:Decrypt"
      Resource     = "*"
    }}]
  }})
}}
""",
    ),
    (
        "tf_via_service_only",
        True,
        """resource "aws_kms_key" "k{n}" {{
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Principal = {{ AWS = "*" }}
      Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
      Resource  = "*"
      Condition = {{ StringEquals = {{ "kms:ViaService" = "s3.us-east-1.amazonaws.com" }} }}
    }}]
  }})
}}
""",
    ),
    (
        "tf_cross_account",
        True,
        """variable "partner{n}" {{
  default = "111122223333"
}}
resource "aws_kms_key" "k{n}" {{
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Principal = {{ AWS = "arn:aws:iam::${{var.partner{n}}}:root" }}
      Action    = "kms:Decrypt"
      Resource  = "*"
    }}]
  }})
}}
""",
    ),
    (
        "tf_own_root",
        False,
        """data "aws_caller_identity" "c{n}" {{}}
resource "aws_kms_key" "k{n}" {{
  enable_key_rotation = true
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Principal = {{ AWS = "arn:aws:iam::${{data.aws_caller_identity.c{n}.account_id}}:root" }}
      Action    = "kms:*"
      Resource  = "*"
    }}]
  }})
}}
""",
    ),
    (
        "tf_key_policy_resource",
        True,
        """resource "aws_kms_key" "k{n}" {{}}
resource "aws_kms_key_policy" "k{n}" {{
  key_id = aws_kms_key.k{n}.id
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [
      {{ Effect = "Allow", Principal = {{ AWS = "*" }}, Action = "kms:*", Resource = "*" }}
    ]
  }})
}}
""",
    ),
]

TF_FORMS.append(("tf_json_public", True, ""))  # Terraform JSON syntax: see _tf_json


def _tf_json(n: int) -> str:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
        ],
    }
    doc = {"resource": {"aws_kms_key": {f"k{n}": {"policy": json.dumps(policy)}}}}
    return json.dumps(doc, indent=2) + "\n"


CFN_FORMS: list[tuple[str, bool, str]] = [
    (
        "cfn_yaml_star",
        True,
        """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Key{n}:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: kms:*
            Resource: "*"
""",
    ),
    (
        "cfn_yaml_conditioned_own",
        False,
        """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Key{n}:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: "*"
            Action: kms:*
            Resource: "*"
            Condition:
              StringEquals:
                kms:CallerAccount: !Ref AWS::AccountId
""",
    ),
    (
        "cfn_json_aws_star_list",
        True,
        """{{
  "Resources": {{
    "Key{n}": {{
      "Type": "AWS::KMS::Key",
      "Properties": {{
        "KeyPolicy": {{
          "Version": "2012-10-17",
          "Statement": [
            {{"Effect": "Allow", "Principal": {{"AWS": ["*"]}}, "Action": "kms:Decrypt",
              "Resource": "*"}}
          ]
        }}
      }}
    }}
  }}
}}
""",
    ),
    (
        "cfn_yaml_own_root",
        False,
        """Resources:
  Key{n}:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: !Sub "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:root"
            Action: kms:*
            Resource: "*"
""",
    ),
    (
        "cfn_yaml_deny_guarded",
        False,
        """Resources:
  Key{n}:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Sid: Allow
            Effect: Allow
            Principal: "*"
            Action: kms:*
            Resource: "*"
          - Sid: DenyOthers
            Effect: Deny
            Principal: "*"
            Action: kms:*
            Resource: "*"
            Condition:
              StringNotEquals:
                aws:PrincipalAccount: !Ref AWS::AccountId
""",
    ),
    (
        "cfn_yaml_if_branch",
        True,
        """Parameters:
  Env:
    Type: String
Conditions:
  Open: !Equals [!Ref Env, dev]
Resources:
  Key{n}:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: !If [Open, "*", !Sub "arn:aws:iam::${{AWS::AccountId}}:root"]
            Action: kms:Decrypt
            Resource: "*"
""",
    ),
    (
        "cfn_yaml_replica_partner",
        True,
        """Resources:
  Key{n}:
    Type: AWS::KMS::ReplicaKey
    Properties:
      PrimaryKeyArn: arn:aws:kms:us-east-1:{own}:key/mrk-{n}
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: arn:aws:iam::444455556666:root
            Action: kms:Decrypt
            Resource: "*"
""",
    ),
]

# -- filler: ordinary non-KMS resources ----------------------------------------------

TF_FILLERS = [
    """resource "aws_s3_bucket" "b{n}" {{
  bucket = "bucket-{n}"
  tags = {{
    Team = "team-{m}"
    Env  = "prod"
  }}
}}

resource "aws_s3_bucket_versioning" "b{n}" {{
  bucket = aws_s3_bucket.b{n}.id
  versioning_configuration {{
    status = "Enabled"
  }}
}}
""",
    """resource "aws_security_group" "sg{n}" {{
  name        = "sg-{n}"
  description = "service {m}"
  vpc_id      = "vpc-0123456789abcdef0"

  ingress {{
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }}

  egress {{
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }}
}}
""",
    """resource "aws_iam_role" "r{n}" {{
  name = "role-{n}"
  assume_role_policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Principal = {{ Service = "lambda.amazonaws.com" }}
      Action    = "sts:AssumeRole"
    }}]
  }})
}}

resource "aws_lambda_function" "f{n}" {{
  function_name = "fn-{n}"
  role          = aws_iam_role.r{n}.arn
  handler       = "index.handler"
  runtime       = "python3.12"
  filename      = "build/fn-{n}.zip"
  environment {{
    variables = {{
      STAGE = "prod"
    }}
  }}
}}
""",
    """variable "instance_type_{n}" {{
  type    = string
  default = "t3.micro"
}}

resource "aws_instance" "i{n}" {{
  ami           = "ami-0123456789abcdef0"
  instance_type = var.instance_type_{n}
  root_block_device {{
    encrypted = true
  }}
  tags = {{ Name = "host-{n}" }}
}}
""",
]

CFN_FILLERS = [
    """AWSTemplateFormatVersion: "2010-09-09"
Description: bucket {n}
Resources:
  Bucket{n}:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "bucket-${{AWS::AccountId}}-{n}"
      VersioningConfiguration:
        Status: Enabled
      Tags:
        - Key: team
          Value: team-{m}
""",
    """AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn{n}:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
      CodeUri: src/
      Policies:
        - S3ReadPolicy:
            BucketName: !Ref Bucket{n}
  Bucket{n}:
    Type: AWS::S3::Bucket
""",
    """{{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Resources": {{
    "Queue{n}": {{
      "Type": "AWS::SQS::Queue",
      "Properties": {{"QueueName": "queue-{n}", "VisibilityTimeout": 60}}
    }},
    "Topic{n}": {{
      "Type": "AWS::SNS::Topic",
      "Properties": {{"TopicName": "topic-{n}"}}
    }}
  }}
}}
""",
]


def generate(root: Path, n_files: int, kms_share: float = 0.05, seed: int = 7) -> dict[str, Any]:
    """Write the tree; return the ground truth {"rel/path::resource": {...}}."""
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(seed)
    truth: dict[str, Any] = {}
    n_kms = max(2, int(n_files * kms_share))
    n_tf = n_files // 2
    n_cfn = n_files - n_tf

    def place(count: int, total: int) -> set[int]:
        step = max(1, total // max(count, 1))
        return {i * step for i in range(min(count, total))}

    tf_slots = place(n_kms // 2, n_tf)
    cfn_slots = place(n_kms - n_kms // 2, n_cfn)
    for i in range(n_tf):
        folder = root / "terraform" / f"svc{i // 80:03d}" / f"mod{i // 8:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        if i in tf_slots:
            name, exposed, tpl = TF_FORMS[len(truth) % len(TF_FORMS)]
            ext = ".tf.json" if name == "tf_json_public" else ".tf"
            path = folder / f"kms_{i}{ext}"
            path.write_text(_tf_json(i) if name == "tf_json_public" else tpl.format(n=i, own=OWN))
            kind = "aws_kms_key_policy" if name == "tf_key_policy_resource" else "aws_kms_key"
            truth[f"{path.relative_to(root).as_posix()}::{kind}.k{i}"] = {
                "form": name,
                "exposed": exposed,
                "framework": "terraform",
            }
        else:
            tpl = rng.choice(TF_FILLERS)
            (folder / f"res_{i}.tf").write_text(tpl.format(n=i, m=rng.randint(1, 40)))
    cfn_count = 0
    for j in range(n_cfn):
        folder = root / "cloudformation" / f"stack{j // 50:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        if j in cfn_slots:
            name, exposed, tpl = CFN_FORMS[cfn_count % len(CFN_FORMS)]
            cfn_count += 1
            ext = ".json" if name.startswith("cfn_json") else ".yaml"
            path = folder / f"kms_{j}{ext}"
            path.write_text(tpl.format(n=j, own=OWN))
            truth[f"{path.relative_to(root).as_posix()}::Key{j}"] = {
                "form": name,
                "exposed": exposed,
                "framework": "cloudformation",
            }
        else:
            tpl = rng.choice(CFN_FILLERS)
            ext = ".json" if tpl.lstrip().startswith("{") else ".yaml"
            (folder / f"tpl_{j}{ext}").write_text(tpl.format(n=j, m=rng.randint(1, 40)))
    return truth


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/iac-tree")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    t = generate(out, n)
    (out.parent / "iac-truth.json").write_text(json.dumps(t, indent=1))
    print(f"wrote {n} files, {len(t)} KMS keys, to {out}")
