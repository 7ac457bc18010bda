"""Benchmark: `kmsguard check --format json DIR` on N distinct realistic key policies.

Prints policies/second for the whole process (wall clock, and the CPU time the process
used, which a busy machine disturbs far less) and the ratio to a bare `json.load` of the same
files. The tool runs as an installed one does: with its bytecode cached (one warm-up run
first, and PYTHONDONTWRITEBYTECODE removed from its environment).
Run: .venv/bin/python bench/check/run.py [--count 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def admin(account: str) -> dict[str, Any]:
    return {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def console_default(account: str, rnd: random.Random) -> list[dict[str, Any]]:
    admin_role = f"arn:aws:iam::{account}:role/KeyAdmin-{rnd.randrange(10**6)}"
    user_role = f"arn:aws:iam::{account}:role/app-{rnd.randrange(10**6)}"
    return [
        admin(account),
        {
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {"AWS": admin_role},
            "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                       "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                       "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                       "kms:CancelKeyDeletion"],
            "Resource": "*",
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": user_role},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:DescribeKey"],
            "Resource": "*",
        },
        {
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": user_role},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


def make_policy(i: int, rnd: random.Random) -> dict[str, Any]:
    account = f"{100000000000 + i * 7919 % 899999999999:012d}"
    region = rnd.choice(["us-east-1", "eu-west-1", "ap-southeast-2"])
    kind = rnd.random()
    stmts = console_default(account, rnd)
    if kind < 0.60:
        pass  # default-style
    elif kind < 0.72:
        svc = rnd.choice(["s3", "rds", "secretsmanager", "ebs", "sqs"])
        stmts.append({
            "Sid": "ViaService", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"{svc}.{region}.amazonaws.com",
                                            "kms:CallerAccount": account}},
        })
    elif kind < 0.80:
        org = "o-" + "".join(rnd.choice("abcdefghij0123456789") for _ in range(10))
        stmts.append({
            "Sid": "Org", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
            "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": org}},
        })
    elif kind < 0.90:
        stmts.append({
            "Sid": f"QuickFix{i}", "Effect": "Allow", "Principal": "*",
            "Action": rnd.choice(["kms:Decrypt", "kms:*", ["kms:Encrypt", "kms:Decrypt"]]),
            "Resource": "*",
        })
    elif kind < 0.95:
        partner = f"{200000000000 + i:012d}"
        stmts.append({
            "Sid": "Partner", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{partner}:role/ingest"},
            "Action": "kms:Decrypt", "Resource": "*",
        })
    else:
        stmts.append({
            "Sid": "Endpoint", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpce": f"vpce-{i:017x}"}},
        })
    return {"Version": "2012-10-17", "Id": f"key-policy-{i}", "Statement": stmts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs; the best is printed")
    args = ap.parse_args()
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(args.count):
            (root / f"p{i:05d}.json").write_text(json.dumps(make_policy(i, rnd), indent=2))
        files = sorted(root.glob("*.json"))
        t0 = time.perf_counter()
        for f in files:
            with f.open() as fh:
                json.load(fh)
        t_json = time.perf_counter() - t0
        kmsguard = Path(sys.executable).with_name("kmsguard")
        cmd = [str(kmsguard), "check", "--format", "json", "--fail-on", "critical", str(root)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(cmd, capture_output=True, env=env, check=False)  # warm-up
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(max(1, args.repeat)):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(
                after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            )
        t_check, t_cpu = min(walls), min(cpus)
        rows = json.loads(proc.stdout)
        verdicts: dict[str, int] = {}
        for r in rows:
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
        print(f"policies            {len(files)} (distinct)")
        print(f"verdicts            {verdicts}")
        print(f"kmsguard check      {t_check:.2f} s  = {len(files) / t_check:,.0f} policies/s "
              f"(whole process, wall clock, best of {len(walls)}, exit {proc.returncode})")
        print(f"  CPU time          {t_cpu:.2f} s  = {len(files) / t_cpu:,.0f} policies/s "
              "(user + system, best of the same runs)")
        print(f"bare json.load      {t_json:.3f} s  = {len(files) / t_json:,.0f} files/s")
        print(f"ratio check/json    {t_check / t_json:.1f}x")


if __name__ == "__main__":
    main()
