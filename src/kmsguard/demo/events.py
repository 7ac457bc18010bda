"""The demo's generated evidence for live keys: a CloudTrail log tree (the bundled one,
retargeted at the live quick-fix key) and a day of key-policy change events for the
monitor (one key made public in the morning and fixed again at lunch)."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kmsguard.monitor.events import default_key_policy

from . import make_cloudtrail
from .estate import EXAMPLE_ACCOUNT


def retarget_cloudtrail(source: Path, dest: Path, *, account: str, key_arn: str) -> int:
    """Copy the bundled log tree for `key_arn` in `account`: the same callers, the same
    calls, now naming the live key. Returns the number of files written."""
    old_arn = make_cloudtrail.KEY_ARN
    old_id = old_arn.rsplit("/", 1)[-1]
    new_id = key_arn.rsplit("/", 1)[-1]
    count = 0
    for path in sorted(source.rglob("*.json.gz")):
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
        text = text.replace(old_arn, key_arn).replace(old_id, new_id)
        text = text.replace(EXAMPLE_ACCOUNT, account)
        rel = Path(str(path.relative_to(source)).replace(EXAMPLE_ACCOUNT, account))
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
        count += 1
    return count


def _put_key_policy(key_arn: str, at: datetime, policy: str, who: str) -> dict[str, Any]:
    account, region = key_arn.split(":")[4], key_arn.split(":")[3]
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{account}:assumed-role/{who}/{who}-session",
            "accountId": account,
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "kms.amazonaws.com",
        "eventName": "PutKeyPolicy",
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.7",
        "requestParameters": {"keyId": key_arn, "policyName": "default", "policy": policy},
        "responseElements": None,
        "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key_arn}/{at.isoformat()}")),
        "readOnly": False,
        "resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}],
        "eventType": "AwsApiCall",
        "recipientAccountId": account,
    }


def monitor_day(key_arn: str, day: datetime) -> list[dict[str, Any]]:
    """A day of PutKeyPolicy events for `key_arn`: made public at 09:14 (a "temporary"
    wildcard for a debugging session), restored at 12:41."""
    account = key_arn.split(":")[4]
    public = json.loads(default_key_policy(account))
    public["Statement"].append(
        {
            "Sid": "TemporaryDebugAccess",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
        }
    )
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        _put_key_policy(key_arn, start + timedelta(hours=9, minutes=14, seconds=7),
                        json.dumps(public), "ops-admin"),
        _put_key_policy(key_arn, start + timedelta(hours=12, minutes=41, seconds=55),
                        default_key_policy(account), "security-oncall"),
    ]


def write_events(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"Records": records}, indent=2), encoding="utf-8")
