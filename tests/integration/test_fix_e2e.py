"""`kmsguard fix` end to end against the moto server: plan from usage, apply, roll back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from kmsguard.model import TrustZone, Verdict
from kmsguard.policy import analyze_policy
from kmsguard.store import PolicyVersionStore, VersionReason, open_database
from tests.cli import run

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"  # moto's default account
EXTERNAL = "444455556666"

# Deliberately odd formatting: rollback must restore these exact bytes.
PUBLIC_POLICY = (
    '{"Version": "2012-10-17",  "Id": "key-consolepolicy-3",\n'
    '"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",\n'
    f'  "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}, "Action": "kms:*", '
    '"Resource": "*"},\n'
    ' {"Sid": "AllowUseOfTheKey", "Effect": "Allow", "Principal": {"AWS": "*"},\n'
    '  "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",'
    ' "kms:DescribeKey"], "Resource": "*"},\n'
    ' {"Sid": "DenyWithoutTLS", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt",'
    ' "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}'
)


def role(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def usage_report(key_arn: str) -> dict[str, Any]:
    """Three roles, an AWS service and one external account, as `kmsguard usage` writes it."""
    return {
        "version": 1,
        "window": {"since": "2026-09-01T00:00:00Z", "until": "2026-11-29T00:00:00Z"},
        "keys": [
            {
                "key_arn": key_arn,
                "callers": [
                    {
                        "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/orders-api/i-0abc",
                        "principal_type": "role",
                        "account": ACCOUNT,
                        "actions": {"Decrypt": 120, "GenerateDataKey": 40},
                        "via_services": [],
                        "vpc_endpoints": [],
                        "outside_zone": False,
                    },
                    {
                        "principal": role("billing-batch"),
                        "principal_type": "role",
                        "account": ACCOUNT,
                        "actions": {"Decrypt": 7},
                        "via_services": ["s3.us-east-1.amazonaws.com"],
                        "vpc_endpoints": [],
                        "outside_zone": False,
                    },
                    {
                        "principal": role("reporting"),
                        "principal_type": "role",
                        "account": ACCOUNT,
                        "actions": {"Encrypt": 3, "ReEncrypt": 2, "DescribeKey": 1},
                        "outside_zone": False,
                    },
                    {
                        "principal": "cloudtrail.amazonaws.com",
                        "principal_type": "service",
                        "account": None,
                        "actions": {"GenerateDataKey": 55, "DescribeKey": 5},
                        "outside_zone": False,
                    },
                    {
                        "principal": role("partner-etl", EXTERNAL),
                        "principal_type": "role",
                        "account": EXTERNAL,
                        "actions": {"Decrypt": 9},
                        "outside_zone": True,
                    },
                ],
            }
        ],
    }


@pytest.fixture
def kms(aws_env: str) -> Any:
    return boto3.client("kms", region_name="us-east-1")


@pytest.fixture
def public_key(kms: Any) -> str:
    arn: str = kms.create_key(Policy=PUBLIC_POLICY, Description="fix e2e")["KeyMetadata"]["Arn"]
    assert kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"] == PUBLIC_POLICY
    return arn


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "usage": tmp_path / "usage.json",
        "plan": tmp_path / "plan.json",
        "db": tmp_path / "state" / "kmsguard.sqlite3",
        "backups": tmp_path / "backups",
    }


def live(kms: Any, key: str) -> str:
    policy: str = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    return policy


def test_plan_apply_rollback_round_trip(
    kms: Any, public_key: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["usage"].write_text(json.dumps(usage_report(public_key)))
    db = f"sqlite:///{files['db']}"
    store_opts = ["--db", db, "--backup-dir", str(files["backups"])]

    # plan: every inside caller kept, the external one listed, exposure removed
    code, out, err = run(
        capsys, "fix", "plan", "--key", public_key, "--usage", str(files["usage"]),
        "--format", "json", "--output", str(files["plan"]),
    )
    assert code == 0, err
    plan = json.loads(files["plan"].read_text())
    assert plan["offered"] is True
    assert plan["verdict_before"] == "public"
    assert plan["verdict_after"] == "private"
    assert plan["lockout_ok"] is True
    replay = plan["replay"]
    assert replay["broken_calls"] == 0
    assert replay["kept_calls"] == 120 + 40 + 7 + 3 + 2 + 2 + 1 + 55 + 5
    assert replay["dropped_calls"] == 9
    assert {r["principal"] for r in replay["kept"]} == {
        role("orders-api"), role("billing-batch"), role("reporting"), "cloudtrail.amazonaws.com"
    }
    lost = plan["would_lose_access"]
    assert [(x["principal"], x["account"]) for x in lost] == [
        (role("partner-etl", EXTERNAL), EXTERNAL)
    ]
    import hashlib

    assert plan["old_policy_sha256"] == hashlib.sha256(PUBLIC_POLICY.encode()).hexdigest()
    new_policy = plan["new_policy"]
    sids = [s.get("Sid") for s in new_policy["Statement"]]
    assert "Enable IAM User Permissions" in sids
    assert "DenyWithoutTLS" in sids  # Deny guards are kept
    assert new_policy["Id"] == "key-consolepolicy-3"
    assert "+++" in plan["diff"]

    # apply without --yes: a dry run that changes nothing
    code, out, err = run(
        capsys, "fix", "apply", "--key", public_key, "--plan", str(files["plan"]), *store_opts
    )
    assert code == 0, err
    assert "dry-run" in out
    assert live(kms, public_key) == PUBLIC_POLICY
    assert PolicyVersionStore(open_database(db)).versions(public_key) == ()

    # apply --yes: the live policy changes; the old one is saved first
    code, out, err = run(
        capsys, "fix", "apply", "--key", public_key, "--plan", str(files["plan"]), "--yes",
        *store_opts,
    )
    assert code == 0, err
    assert "applied" in out
    after = live(kms, public_key)
    assert json.loads(after) == new_policy
    assert analyze_policy(after, TrustZone(account=ACCOUNT)).verdict is Verdict.PRIVATE
    versions = PolicyVersionStore(open_database(db)).versions(public_key)
    assert [v.reason for v in versions] == [VersionReason.BEFORE_APPLY, VersionReason.APPLIED]
    assert versions[0].policy == PUBLIC_POLICY
    backups = list(files["backups"].glob("*.json"))
    assert len(backups) == 1
    assert json.loads(backups[0].read_text())["policy"] == PUBLIC_POLICY

    # applying the same plan again: refused as stale? no: already applied, nothing to do
    code, out, err = run(
        capsys, "fix", "apply", "--key", public_key, "--plan", str(files["plan"]), "--yes",
        *store_opts,
    )
    assert code == 0, err
    assert "unchanged" in out

    # rollback: dry run first, then the original bytes come back
    code, out, err = run(
        capsys, "fix", "rollback", "--key", public_key, "--allow-exposed", *store_opts
    )
    assert code == 0, err
    assert live(kms, public_key) == after
    code, out, err = run(
        capsys, "fix", "rollback", "--key", public_key, "--yes", "--allow-exposed", *store_opts
    )
    assert code == 0, err
    assert "rolled back" in out
    assert live(kms, public_key) == PUBLIC_POLICY

    code, out, err = run(capsys, "fix", "history", "--key", public_key, "--db", db)
    assert code == 0, err
    assert "before-apply" in out
    assert "rolled-back" in out


def test_plan_keeps_external_account_on_request(
    kms: Any, public_key: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["usage"].write_text(json.dumps(usage_report(public_key)))
    code, out, err = run(
        capsys, "fix", "plan", "--key", public_key, "--usage", str(files["usage"]),
        "--keep-external", EXTERNAL, "--format", "json",
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["would_lose_access"] == []
    assert plan["replay"]["dropped_calls"] == 0
    assert plan["verdict_after"] == "cross-account"
    named = json.dumps(plan["new_policy"])
    assert role("partner-etl", EXTERNAL) in named


def test_plan_text_output_and_account_strategy(
    kms: Any, public_key: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["usage"].write_text(json.dumps(usage_report(public_key)))
    code, out, err = run(
        capsys, "fix", "plan", "--key", public_key, "--usage", str(files["usage"]),
        "--strategy", "account",
    )
    assert code == 0, err
    assert "verdict: public -> private" in out
    assert "would lose access" in out
    assert f"--keep-external {EXTERNAL}" in out
    assert "kms:CallerAccount" in out
    assert "100%" in out


def test_apply_without_plan_file_uses_default_storage(
    kms: Any,
    public_key: str,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No --plan: plan on the spot; no --db / --backup-dir: the user data folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    files["usage"].write_text(json.dumps(usage_report(public_key)))
    code, out, err = run(
        capsys, "fix", "apply", "--key", public_key, "--usage", str(files["usage"]), "--yes",
        "--format", "json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "applied"
    assert result["verdict_after"] == "private"
    assert result["readback_matches"] is True
    home = tmp_path / "data" / "kmsguard"
    assert (home / "kmsguard.db").is_file()
    (backup,) = (home / "backups").glob("*.json")
    assert json.loads(backup.read_text())["policy"] == PUBLIC_POLICY

    code, out, err = run(capsys, "fix", "rollback", "--key", public_key, "--to", "99", "--yes")
    assert code == 2
    assert "no saved version 99" in err
    assert "saved versions: 1, 2" in err
    code, out, err = run(
        capsys, "fix", "rollback", "--key", public_key, "--to", "1", "--yes", "--allow-exposed"
    )
    assert code == 0, err
    assert live(kms, public_key) == PUBLIC_POLICY


def test_plan_input_errors(
    kms: Any, public_key: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "fix", "plan", "--key", public_key)
    assert code == 2
    assert "exactly one of --usage FILE and --cloudtrail SOURCE" in err
    files["usage"].write_text(json.dumps(usage_report(public_key)))
    code, _out, err = run(
        capsys, "fix", "plan", "--key", public_key, "--usage", str(files["usage"]),
        "--strategy", "org",
    )
    assert code == 2
    assert "needs the organization id" in err
    code, _out, err = run(
        capsys, "fix", "plan", "--key", public_key + "0",
        "--usage", str(files["usage"]),
    )
    assert code == 2
    assert "no KMS key" in err


def test_rollback_from_backup_file_when_the_database_is_lost(
    kms: Any, public_key: str, files: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files["usage"].write_text(json.dumps(usage_report(public_key)))
    code, _out, err = run(
        capsys, "fix", "apply", "--key", public_key, "--usage", str(files["usage"]), "--yes",
        "--db", f"sqlite:///{files['db']}", "--backup-dir", str(files["backups"]),
    )
    assert code == 0, err
    (backup,) = files["backups"].glob("*.json")
    files["db"].unlink()
    fresh = ["--db", f"sqlite:///{tmp_path / 'fresh.sqlite3'}", "--backup-dir",
             str(tmp_path / "b2")]
    code, _out, err = run(capsys, "fix", "rollback", "--key", public_key, "--yes", *fresh)
    assert code == 2
    assert "no saved policy" in err
    code, out, err = run(
        capsys, "fix", "rollback", "--key", public_key, "--backup", str(backup), "--yes",
        "--allow-exposed", *fresh
    )
    assert code == 0, err
    assert "rolled back" in out
    assert live(kms, public_key) == PUBLIC_POLICY
