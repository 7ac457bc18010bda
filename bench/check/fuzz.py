"""Random multi-statement key policies: the shortcuts and the solver must agree, and nothing
may be undecided. Prints mismatches (with the policy) and the slowest analysis.

Run: .venv/bin/python bench/check/fuzz.py SEED COUNT   (e.g. 1 60)
"""

import json
import random
import sys
import time

from kmsguard.model import TrustZone, Verdict
from kmsguard.policy import analyze_policy

zone = TrustZone(
    account="123456789012",
    trusted_orgs=frozenset({"o-exampleorgid"}),
    trusted_accounts=frozenset({"555566667777"}),
)
rnd = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
keys = [
    (
        "StringEquals",
        "kms:ViaService",
        ["s3.us-east-1.amazonaws.com", "rds.eu-west-1.amazonaws.com"],
    ),
    (
        "StringLike",
        "aws:PrincipalArn",
        [
            "arn:aws:iam::*:role/app-*",
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:iam::210987654321:*",
        ],
    ),
    ("ArnEquals", "aws:PrincipalArn", ["arn:aws:iam::555566667777:role/x"]),
    ("StringNotEquals", "aws:PrincipalOrgID", ["o-exampleorgid"]),
    ("StringEquals", "aws:PrincipalOrgID", ["o-exampleorgid", "o-otherorgabcd"]),
    ("StringNotEqualsIfExists", "kms:CallerAccount", ["123456789012"]),
    ("StringEquals", "kms:CallerAccount", ["123456789012", "210987654321"]),
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "203.0.113.0/24"]),
    ("NotIpAddress", "aws:SourceIp", ["198.51.100.0/24"]),
    ("StringEquals", "aws:SourceVpce", ["vpce-1"]),
    ("StringEquals", "kms:EncryptionContext:tenant", ["a", "b"]),
    ("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", ["o-exampleorgid/r-ab12/ou-*"]),
    ("ForAllValues:StringEquals", "aws:PrincipalOrgPaths", ["o-exampleorgid/r-ab12/"]),
    ("Null", "aws:PrincipalOrgID", ["true", "false"]),
    ("Bool", "aws:SecureTransport", ["false"]),
    ("Bool", "aws:PrincipalIsAWSService", ["true"]),
    ("StringEquals", "aws:SourceAccount", ["123456789012"]),
    ("StringLike", "kms:CallerAccount", ["12345678*", "2109876543??"]),
]
acts = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:CreateGrant",
    "kms:Describe*",
    "kms:*",
    "kms:Sign",
]
prins = [
    "*",
    {"AWS": "*"},
    {"AWS": "arn:aws:iam::210987654321:root"},
    {"AWS": "555566667777"},
    {"AWS": "arn:aws:iam::123456789012:role/app"},
    {"Service": "s3.amazonaws.com"},
]
bad = 0
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
slow = 0
for _trial in range(n):
    stmts = []
    for _i in range(rnd.randint(1, 6)):
        cond = {}
        for _ in range(rnd.randint(0, 2)):
            op, k, v = rnd.choice(keys)
            cond.setdefault(op, {})[k] = rnd.sample(v, rnd.randint(1, len(v)))
        eff = rnd.choice(["Allow", "Allow", "Deny"])
        s = {"Effect": eff, "Action": rnd.sample(acts, rnd.randint(1, 2)), "Resource": "*"}
        if rnd.random() < 0.15:
            s["NotPrincipal"] = {"AWS": "arn:aws:iam::123456789012:root"}
        else:
            s["Principal"] = rnd.choice(prins)
        if rnd.random() < 0.1:
            s["NotAction"] = s.pop("Action")
        if cond:
            s["Condition"] = cond
        stmts.append(s)
    p = {"Version": "2012-10-17", "Statement": stmts}
    t = time.perf_counter()
    a = analyze_policy(p, zone)
    b = analyze_policy(p, zone, shortcuts=False)
    dt = time.perf_counter() - t
    slow = max(slow, dt)
    if (
        a.verdict != b.verdict
        or a.exposed_actions != b.exposed_actions
        or a.verdict is Verdict.ERROR
    ):
        bad += 1
        print("MISMATCH", a.verdict, b.verdict, a.errors, b.errors, json.dumps(p))
print("done", n, "bad", bad, "slowest", round(slow, 2))
