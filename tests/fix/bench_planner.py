"""Time one plan + verification for N observed callers (not collected by pytest).

    .venv/bin/python -m tests.fix.bench_planner 400
"""

from __future__ import annotations

import json
import random
import sys
import time

from kmsguard.fix.planning import make_offer
from kmsguard.model import TrustZone
from kmsguard.policy.remediation import ObservedCaller

A = "111122223333"
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "Use", "Effect": "Allow", "Principal": "*", "Action": [
        "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*",
        "kms:DescribeKey"], "Resource": "*"},
    {"Sid": "ViaS3", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt"],
     "Resource": "*",
     "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}},
    {"Sid": "Guard", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
]}
ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey",
           "kms:ReEncryptFrom"]


def main(n: int) -> None:
    rng = random.Random(1)
    callers = []
    for i in range(n):
        account = A if i % 10 else "444455556666"  # every tenth caller is external
        acts = tuple(sorted((a, rng.randint(1, 9)) for a in rng.sample(ACTIONS, 3)))
        via = ("s3.us-east-1.amazonaws.com",) if i % 3 == 0 else ()
        callers.append(
            ObservedCaller(f"arn:aws:iam::{account}:role/r{i}", account, acts, via_services=via)
        )
    start = time.perf_counter()
    offer = make_offer(json.dumps(POLICY), tuple(callers), TrustZone(account=A),
                       key_account=A, source="bench")
    took = time.perf_counter() - start
    failed = [c.name for c in offer.verification.failures]
    print(f"{n} callers: {took:.2f}s, offered={offer.offered}, "
          f"{offer.verification.size_bytes} bytes, failed={failed}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
