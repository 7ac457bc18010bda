"""A plan from no usage evidence is refused: an empty or wrong CloudTrail folder, a window
with no event for the key, or a usage report without the key ends with exit 2 naming the
logs and the window, unless --allow-no-usage. Every plan shows its evidence and warns of a
short or old window. `kmsguard usage` on an empty folder is an input error too."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kmsguard.fix.evidence import usage_evidence
from tests.cli import run

A = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Admin",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Open",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
        },
    ],
}


def _trail(root: Path, when: datetime, key: str = KEY) -> Path:
    folder = root / "AWSLogs" / A / "CloudTrail" / "us-east-1" / when.strftime("%Y/%m/%d")
    folder.mkdir(parents=True)
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "us-east-1",
        "recipientAccountId": A,
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEAPP000001:s",
            "arn": f"arn:aws:sts::{A}:assumed-role/app/s",
            "accountId": A,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{A}:role/app",
                    "accountId": A,
                }
            },
        },
        "resources": [{"ARN": key, "type": "AWS::KMS::Key", "accountId": A}],
        "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "eventID": "e1",
    }
    with gzip.open(folder / f"{A}_CloudTrail_us-east-1_x.json.gz", "wt") as f:
        json.dump({"Records": [record]}, f)
    return root


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    p = tmp_path / "policy.json"
    p.write_text(json.dumps(POLICY))
    return p


def test_an_empty_cloudtrail_folder_is_refused(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "trail"
    empty.mkdir()
    args = ["fix", "plan", "--policy", str(policy), "--usage-key", KEY, "--cloudtrail", str(empty)]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert "no usage evidence" in err
    assert str(empty) in err
    assert "window" in err
    assert "--allow-no-usage" in err
    assert out == ""
    code, out, _ = run(capsys, *args, "--allow-no-usage")
    assert code == 0
    assert "evidence: 0 events for this key" in out


def test_a_window_without_the_key_is_refused(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = KEY.replace("1234abcd", "99999999")
    trail = _trail(tmp_path / "trail", datetime.now(UTC) - timedelta(hours=2), key=other)
    code, _, err = run(
        capsys,
        "fix",
        "plan",
        "--policy",
        str(policy),
        "--usage-key",
        KEY,
        "--cloudtrail",
        str(trail),
    )
    assert code == 2
    assert "no event for" in err
    assert "1 CloudTrail events read" in err


def test_a_usage_report_without_the_key_is_refused(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "usage.json"
    report.write_text(json.dumps({"window": {"since": "2026-01-01T00:00:00Z"}, "keys": []}))
    code, _, err = run(
        capsys, "fix", "plan", "--policy", str(policy), "--usage-key", KEY, "--usage", str(report)
    )
    assert code == 2
    assert "no usage evidence" in err
    assert "2026-01-01" in err


def test_every_plan_shows_its_evidence_and_warns_of_a_short_window(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trail = _trail(tmp_path / "trail", datetime.now(UTC) - timedelta(hours=2))
    code, out, err = run(
        capsys,
        "fix",
        "plan",
        "--policy",
        str(policy),
        "--usage-key",
        KEY,
        "--cloudtrail",
        str(trail),
        "--since",
        "7d",
    )
    assert code == 0, err
    assert "evidence: 1 events for this key" in out
    assert "(< 30)" in out
    assert "(< 30)" in err
    code, out, _ = run(
        capsys,
        "fix",
        "plan",
        "--policy",
        str(policy),
        "--usage-key",
        KEY,
        "--cloudtrail",
        str(trail),
        "--since",
        "7d",
        "--format",
        "json",
    )
    evidence = json.loads(out)["usage_evidence"]
    assert evidence["key_events"] == 1
    assert any("30" in w for w in evidence["warnings"])


def test_window_warnings() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    data = {
        "window": {"since": "2026-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        "keys": [{"key_arn": KEY, "calls": 5, "callers": []}],
    }
    e = usage_evidence(data, KEY, key_account=A)
    assert e.key_events == 5
    assert not e.empty
    (old,) = e.window_warnings(now)
    assert "more than a day ago" in old
    data["window"] = {"since": "2026-05-25T00:00:00Z", "until": "2026-06-01T00:00:00Z"}
    (short,) = usage_evidence(data, KEY, key_account=A).window_warnings(now)
    assert "7.0 days" in short
    data["window"] = {"since": "2026-04-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}
    assert usage_evidence(data, KEY, key_account=A).window_warnings(now) == ()


def test_usage_on_an_empty_folder_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "logs"
    empty.mkdir()
    code, _, err = run(capsys, "usage", str(empty), "--jobs", "1")
    assert code == 2
    assert "no CloudTrail event" in err
    assert str(empty) in err
    code, _out, _ = run(capsys, "usage", str(empty), "--jobs", "1", "--allow-no-usage")
    assert code == 0
