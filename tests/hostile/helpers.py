"""Running kmsguard as a real process (a hang must fail the test, not the suite) and
generating hostile inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"


def run(
    *args: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    python: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`python -m kmsguard ARGS` (or `python ARGS`) with a timeout: a blocked read fails
    the test quickly."""
    full_env = {**os.environ, **(env or {})}
    command = [sys.executable, *args] if python else [sys.executable, "-m", "kmsguard", *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
        check=False,
    )


def policy(*extra: dict[str, Any], public: bool = False) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Admin",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if public:
        statements.append(
            {
                "Sid": "Everyone",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        )
    statements.extend(extra)
    return {"Version": "2012-10-17", "Statement": statements}


def with_number(number: str) -> str:
    """A policy whose condition holds `number` as a raw JSON number."""
    text = json.dumps(
        policy(
            {
                "Sid": "Numeric",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"kms:GrantConstraintType": 0}},
            }
        )
    )
    return text.replace('"kms:GrantConstraintType": 0', f'"kms:GrantConstraintType": {number}')


HOSTILE_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "-" + "7" * 4400]
