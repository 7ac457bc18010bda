"""Builders of CloudTrail KMS records and EventBridge envelopes for the monitor's tests."""

from __future__ import annotations

import itertools
import json
from typing import Any

ACCOUNT = "111122223333"
OUTSIDE = "444455556666"
REGION = "eu-west-1"
_ids = itertools.count(1)


def key_arn(n: int = 1, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{n:08d}-0000-4000-8000-000000000000"


def private_policy(account: str = ACCOUNT, role: str = "app") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Root",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "App",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:role/{role}"},
                    "Action": ["kms:Decrypt", "kms:Encrypt"],
                    "Resource": "*",
                },
            ],
        }
    )


def public_policy(account: str = ACCOUNT, actions: tuple[str, ...] = ("kms:Decrypt",)) -> str:
    doc = json.loads(private_policy(account))
    doc["Statement"].append(
        {
            "Sid": "Everyone",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": list(actions),
            "Resource": "*",
        }
    )
    return json.dumps(doc)


def cross_account_policy(account: str = ACCOUNT, outside: str = OUTSIDE) -> str:
    doc = json.loads(private_policy(account))
    doc["Statement"].append(
        {
            "Sid": "Partner",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{outside}:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    return json.dumps(doc)


def record(
    name: str,
    key: str | None = None,
    *,
    time: str = "2026-11-20T10:00:00Z",
    event_id: str | None = None,
    params: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    key = key or key_arn()
    account = key.split(":")[4]
    rec: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:alice",
            "arn": f"arn:aws:sts::{account}:assumed-role/admin/alice",
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLE",
                    "arn": f"arn:aws:iam::{account}:role/admin",
                    "accountId": account,
                }
            },
        },
        "eventTime": time,
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": key.split(":")[3],
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2",
        "requestParameters": {"keyId": key, **(params or {})},
        "responseElements": response,
        "eventID": event_id or f"00000000-0000-4000-8000-{next(_ids):012d}",
        "readOnly": False,
        "resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
    }
    rec.update(extra)
    return rec


def put_policy(policy: str, key: str | None = None, **kw: Any) -> dict[str, Any]:
    return record("PutKeyPolicy", key, params={"policyName": "default", "policy": policy}, **kw)


def envelope(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": rec["recipientAccountId"],
        "time": rec["eventTime"],
        "region": rec["awsRegion"],
        "resources": [],
        "detail": rec,
    }
