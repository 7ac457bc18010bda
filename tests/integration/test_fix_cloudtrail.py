"""`kmsguard fix plan --cloudtrail FOLDER`: usage read from CloudTrail log files on disk
(through `kmsguard.usage`), replayed against the plan for a live moto key."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.cli import run

from .test_fix_e2e import ACCOUNT, EXTERNAL, PUBLIC_POLICY, role

pytestmark = pytest.mark.integration


def _record(key_arn: str, name: str, identity: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.11",
        "userIdentity": identity,
        "eventTime": "2026-11-01T10:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.0.1",
        "requestParameters": {"keyId": key_arn},
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key_arn}],
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
        **extra,
    }


def _assumed(name: str, account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE{name.upper()}:session",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/session",
        "accountId": account,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROAEXAMPLE{name.upper()}",
                "arn": role(name, account),
                "accountId": account,
            }
        },
    }


def _write_logs(root: Path, key_arn: str) -> None:
    records = (
        [_record(key_arn, "Decrypt", _assumed("orders-api")) for _ in range(3)]
        + [_record(key_arn, "GenerateDataKey", _assumed("billing-batch"))]
        + [_record(key_arn, "Encrypt", _assumed("reporting"))]
        + [_record(key_arn, "GenerateDataKey",
                   {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"})]
        + [_record(key_arn, "Decrypt", _assumed("partner-etl", EXTERNAL))]
        + [_record(key_arn, "Decrypt", _assumed("intruder", EXTERNAL),
                   errorCode="AccessDenied", errorMessage="denied")]
    )
    folder = root / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / "2026" / "11" / "01"
    folder.mkdir(parents=True)
    name = f"{ACCOUNT}_CloudTrail_us-east-1_20261101T1005Z_abcdefgh12345678.json.gz"
    with gzip.open(folder / name, "wt", encoding="utf-8") as f:
        json.dump({"Records": records}, f)


def test_plan_from_cloudtrail_logs(
    aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key_arn = kms.create_key(Policy=PUBLIC_POLICY)["KeyMetadata"]["Arn"]
    _write_logs(tmp_path / "trail", key_arn)
    code, out, err = run(
        capsys, "fix", "plan", "--key", key_arn, "--cloudtrail", str(tmp_path / "trail"),
        "--since", "2026-10-01", "--until", "2026-11-29", "--format", "json",
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["offered"] is True
    assert plan["verdict_after"] == "private"
    kept = {r["principal"] for r in plan["replay"]["kept"]}
    assert kept == {
        role("orders-api"), role("billing-batch"), role("reporting"), "cloudtrail.amazonaws.com"
    }
    assert plan["replay"]["kept_calls"] == 6
    assert [x["principal"] for x in plan["would_lose_access"]] == [role("partner-etl", EXTERNAL)]
    # a denied attempt is not a call to keep
    assert "intruder" not in json.dumps(plan["evidence"])
