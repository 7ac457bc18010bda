"""`kmsguard scan aws` end to end against a real moto server on 127.0.0.1: keys in several
regions and accounts, public / cross-account / private policies, external grants, owner
tags, key states, AWS managed keys, and every output format."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from kmsguard.aws.scan import AwsScanner, ScanCounts, ScanOptions
from kmsguard.report.asff import problems
from tests.cli import run as run_cli

from .aws_seed import (
    OUTSIDER,
    OWN,
    create_key,
    key_arn,
    kms,
    org_policy,
    public_policy,
    root_policy,
    session,
    shared_policy,
)

pytestmark = pytest.mark.integration

PARTNER = "777766665555"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "scan", "aws", *args)


def keys_by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["key_id"]: k for k in report["keys"]}


@pytest.fixture
def seeded(aws_env: str) -> dict[str, str]:
    """One account, two regions, one key per situation the scanner must tell apart."""
    east, west = kms(aws_env, "us-east-1"), kms(aws_env, "eu-west-1")
    ids = {
        "public": create_key(east, public_policy(OWN), alias="alias/open"),
        "cross": create_key(east, shared_policy(OWN, OUTSIDER, ["kms:Decrypt"]), owner=None),
        "trusted": create_key(east, shared_policy(OWN, PARTNER, ["kms:Decrypt"])),
        "private": create_key(east, root_policy(OWN), alias="alias/private"),
        "grant": create_key(
            west,
            root_policy(OWN),
            grants=((f"arn:aws:iam::{OUTSIDER}:role/app", ("Decrypt", "GenerateDataKey")),),
        ),
        "inside_grant": create_key(
            west, root_policy(OWN), grants=((f"arn:aws:iam::{OWN}:role/app", ("Decrypt",)),)
        ),
        "disabled": create_key(west, public_policy(OWN, ["kms:DescribeKey"]), state="Disabled"),
        "pending": create_key(west, root_policy(OWN), owner="", state="PendingDeletion"),
    }
    east.tag_resource(KeyId=ids["trusted"], Tags=[{"TagKey": "OWNER", "TagValue": "x"}])
    # moto creates the AWS managed key behind alias/aws/ebs on first use
    east.describe_key(KeyId="alias/aws/ebs")
    return ids


def test_scan_finds_exactly_the_exposed_keys(
    seeded: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "--region", "us-east-1", "--region", "eu-west-1",
        "--trusted-account", PARTNER,
        "--format", "json",
    )  # fmt: skip
    assert code == 3, err
    report = json.loads(out)
    keys = keys_by_id(report)
    assert set(keys) == set(seeded.values())
    verdicts = {name: keys[key_id]["verdict"] for name, key_id in seeded.items()}
    assert verdicts == {
        "public": "public",
        "cross": "cross-account",
        "trusted": "private",
        "private": "private",
        "grant": "cross-account",
        "inside_grant": "private",
        "disabled": "public",
        "pending": "private",
    }
    public = keys[seeded["public"]]
    assert public["severity"] == "critical"
    assert public["aliases"] == ["alias/open"]
    assert public["arn"] == key_arn(OWN, "us-east-1", seeded["public"])
    assert public["exposures"][0]["principals"] == ["*"]
    assert public["exposures"][0]["witness"]["account"] not in (OWN, PARTNER)
    cross = keys[seeded["cross"]]
    assert cross["exposures"][0]["principals"] == [OUTSIDER]
    assert cross["exposures"][0]["actions"] == ["kms:Decrypt"]
    grant = keys[seeded["grant"]]
    assert grant["policy_verdict"] == "private"
    assert grant["grants_total"] == 1
    [gf] = grant["grant_findings"]
    assert gf["grantee_principal"] == f"arn:aws:iam::{OUTSIDER}:role/app"
    assert set(gf["operations"]) == {"Decrypt", "GenerateDataKey"}
    assert keys[seeded["inside_grant"]]["grant_findings"] == []
    assert keys[seeded["disabled"]]["state"] == "Disabled"
    assert keys[seeded["disabled"]]["severity"] == "low"
    assert keys[seeded["pending"]]["state"] == "PendingDeletion"
    # owner tags: case-insensitive key, empty value does not count
    owners = {name: keys[key_id]["owner_tag"] for name, key_id in seeded.items()}
    assert owners["cross"] is False
    assert owners["pending"] is False
    assert owners["trusted"] is True
    assert sum(owners.values()) == 6

    summary = report["summary"]
    assert summary["keys_scanned"] == 8
    assert summary["keys_skipped"] == 1
    assert summary["keys_errored"] == 0
    assert summary["verdicts"] == {"public": 2, "cross-account": 2, "private": 4, "error": 0}
    assert summary["owner_tag_share"] == 0.75
    assert summary["incomplete"] is False
    [skipped] = report["skipped_keys"]
    assert skipped["aliases"] == ["alias/aws/ebs"]
    # at most four calls per key, plus ListKeys and ListAliases per region
    calls = summary["api_calls"]
    assert calls["ListKeys"] == calls["ListAliases"] == 2
    per_key = sum(v for k, v in calls.items() if k not in ("ListKeys", "ListAliases"))
    assert per_key <= 4 * 8
    # the shipped least-privilege policy allows every KMS call the scan made
    iam = json.loads(
        (Path(__file__).parents[2] / "iam" / "kmsguard-scanner-policy.json").read_text()
    )
    allowed = {
        a
        for st in iam["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert {f"kms:{op}" for op in calls} <= allowed


def test_fail_on_and_clean_scan_exit_codes(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    east = kms(aws_env, "us-east-1")
    create_key(east, root_policy(OWN))
    create_key(east, shared_policy(OWN, OUTSIDER, ["kms:DescribeKey"]))  # cross-account, info
    code, out, _ = run(capsys, "--region", "us-east-1")
    assert code == 0, out
    assert "verdicts: public 0, cross-account 1, private 1, error 0" in out
    code, _, _ = run(capsys, "--region", "us-east-1", "--fail-on", "info")
    assert code == 3


def test_text_report_names_keys_findings_and_witness(
    seeded: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--region", "us-east-1", "--region", "eu-west-1")
    assert code == 3
    assert err == ""  # not a terminal: no progress display
    assert f"{OWN} us-east-1" in out
    assert "public (critical)  alias/open  " + key_arn(OWN, "us-east-1", seeded["public"]) in out
    assert "witness: " in out
    assert f"to arn:aws:iam::{OUTSIDER}:role/app: kms:Decrypt, kms:GenerateDataKey" in out
    assert "KMS005 no owner tag" in out
    assert seeded["private"] not in out  # private keys with an owner have nothing to say
    assert "owner tag: 6 of 8 key(s) (75%)" in out


def test_regions_default_to_every_enabled_region(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {
        region: create_key(kms(aws_env, region), public_policy(OWN))
        for region in ("us-east-1", "ap-southeast-2", "sa-east-1")
    }
    enabled = boto3.Session(region_name="us-east-1").client("ec2").describe_regions()["Regions"]
    code, out, _ = run(capsys, "--format", "json")
    assert code == 3
    report = json.loads(out)
    assert report["summary"]["regions"] == len(enabled)
    assert {k["region"]: k["key_id"] for k in report["keys"]} == ids


def test_org_scan_assumes_role_in_every_account_and_trusts_the_org(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    orgs = session(aws_env).client("organizations", endpoint_url=aws_env)
    org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    members = [
        orgs.create_account(Email=f"m{i}@example.com", AccountName=f"member{i}")[
            "CreateAccountStatus"
        ]["AccountId"]
        for i in range(2)
    ]
    a, b = members
    ids = {
        "own_public": create_key(kms(aws_env, "us-east-1"), public_policy(OWN)),
        "a_sibling": create_key(kms(aws_env, "us-east-1", a), shared_policy(a, b, ["kms:Decrypt"])),
        "a_outside": create_key(
            kms(aws_env, "eu-west-1", a), shared_policy(a, OUTSIDER, ["kms:Decrypt"])
        ),
        "b_org": create_key(kms(aws_env, "eu-west-1", b), org_policy(b, org_id)),
        "b_grant": create_key(
            kms(aws_env, "us-east-1", b),
            root_policy(b),
            grants=((f"arn:aws:iam::{OUTSIDER}:root", ("Encrypt",)),),
        ),
    }
    code, out, err = run(
        capsys, "--org", "--region", "us-east-1", "--region", "eu-west-1", "--format", "json"
    )
    assert code == 3, err
    report = json.loads(out)
    keys = keys_by_id(report)
    assert {name: (keys[i]["account"], keys[i]["verdict"]) for name, i in ids.items()} == {
        "own_public": (OWN, "public"),
        "a_sibling": (a, "private"),  # org members are inside the zone of trust
        "a_outside": (a, "cross-account"),
        "b_org": (b, "private"),  # aws:PrincipalOrgID pins callers to the org
        "b_grant": (b, "cross-account"),
    }
    assert report["summary"]["accounts"] == 3
    assert report["summary"]["regions"] == 6
    assert report["summary"]["org_id"] == org_id

    # the same accounts from a file: the org is not read, so the sibling is outside now
    code, out, _ = run_accounts(capsys, [OWN, a, b], "--region", "us-east-1", "--format", "json")
    keys = keys_by_id(json.loads(out))
    assert keys[ids["a_sibling"]]["verdict"] == "cross-account"
    assert keys[ids["b_grant"]]["account"] == b


def run_accounts(
    capsys: pytest.CaptureFixture[str], accounts: list[str], *args: str
) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accounts.txt"
        path.write_text("# scanned accounts\n" + "\n".join(accounts) + "\n")
        return run(capsys, "--accounts", str(path), *args)


def test_csv_asff_and_sarif_outputs(
    seeded: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path, aws_env: str
) -> None:
    regions = ("--region", "us-east-1", "--region", "eu-west-1")
    code, out, _ = run(capsys, *regions, "--format", "csv")
    assert code == 3
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 9  # eight judged keys and the skipped AWS managed key
    by_arn = {r["arn"]: r for r in rows}
    row = by_arn[key_arn(OWN, "us-east-1", seeded["public"])]
    assert (row["verdict"], row["severity"], row["owner_tag"]) == ("public", "critical", "true")
    assert "kms:Decrypt" in row["exposed_actions"].split()
    assert [r["status"] for r in rows].count("skipped") == 1

    asff_file = tmp_path / "findings.asff.json"
    code, _, _ = run(capsys, *regions, "--format", "asff", "--output", str(asff_file))
    assert code == 3
    findings = json.loads(asff_file.read_text())
    assert all(problems(f) == [] for f in findings)
    rules_by_key: dict[str, set[str]] = {}
    for f in findings:
        rules_by_key.setdefault(f["Resources"][0]["Id"], set()).add(
            f["ProductFields"]["kmsguard/RuleId"]
        )
    assert rules_by_key[key_arn(OWN, "us-east-1", seeded["public"])] == {"KMS001"}
    assert rules_by_key[key_arn(OWN, "us-east-1", seeded["cross"])] == {"KMS002", "KMS005"}
    assert rules_by_key[key_arn(OWN, "eu-west-1", seeded["grant"])] == {"KMS004"}
    assert key_arn(OWN, "us-east-1", seeded["private"]) not in rules_by_key
    # Security Hub (moto's) imports them through boto3, which validates required fields
    hub = session(aws_env).client("securityhub", endpoint_url=aws_env)
    resp = hub.batch_import_findings(Findings=findings)
    assert (resp["FailedCount"], resp["SuccessCount"]) == (0, len(findings))

    code, out, _ = run(capsys, *regions, "--format", "sarif")
    sarif = json.loads(out)
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"KMS001", "KMS002", "KMS004", "KMS005"}


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--region", "nowhere")
    assert code == 2
    assert "`nowhere` is not a region name" in err
    bad = tmp_path / "accounts.txt"
    bad.write_text("12345\n")
    code, _, err = run(capsys, "--accounts", str(bad))
    assert code == 2
    assert "accounts.txt:1: `12345` is not a 12-digit account id" in err
    code, _, err = run(capsys, "--org", "--accounts", str(bad))
    assert code == 2


def test_library_scan_with_injected_session_reports_progress(aws_env: str) -> None:
    for region in ("us-east-1", "eu-west-1"):
        for _ in range(2):
            create_key(kms(aws_env, region), root_policy(OWN))
    seen: list[ScanCounts] = []

    def progress(c: ScanCounts) -> None:
        seen.append(ScanCounts(**{f: getattr(c, f) for f in c.__slots__}))

    scanner = AwsScanner(
        session(aws_env), ScanOptions(regions=("us-east-1", "eu-west-1")), progress=progress
    )
    result = scanner.scan()
    assert len(result.judged) == 4
    assert not result.incomplete
    last = seen[-1]
    assert (last.accounts_done, last.accounts_total) == (1, 1)
    assert (last.regions_done, last.regions_total) == (2, 2)
    assert (last.keys_done, last.keys_total) == (4, 4)
    assert [c.keys_done for c in seen] == sorted(c.keys_done for c in seen)


def test_key_whose_metadata_is_denied_is_an_error_not_a_pass(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto refuses DescribeKey when any Deny statement covers kms:* on "*", whatever its
    # condition: a real-world "deny without TLS" statement then hides the key's metadata
    deny_plain_http = {
        "Sid": "DenyPlainHttp",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    policy = root_policy(OWN)
    policy["Statement"].append(deny_plain_http)
    key_id = create_key(kms(aws_env, "us-east-1"), policy)
    code, out, err = run(capsys, "--region", "us-east-1", "--format", "json")
    assert code == 4, err
    [key] = json.loads(out)["keys"]
    assert key["key_id"] == key_id
    assert key["status"] == "error"
    assert key["state"] is None
    assert key["policy_verdict"] == "private"  # the policy itself was still read and judged
    assert [e["operation"] for e in key["errors"]] == ["DescribeKey"]


def test_progress_is_drawn_on_a_terminal_only(aws_env: str, tmp_path: Path) -> None:
    for _ in range(3):
        create_key(kms(aws_env, "us-east-1"), root_policy(OWN))
    exe = str(Path(sys.executable).with_name("kmsguard"))
    cmd = [exe, "scan", "aws", "--region", "us-east-1", "-o", str(tmp_path / "r.txt")]
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(cmd, stderr=slave, stdout=subprocess.DEVNULL, check=False)
    finally:
        os.close(slave)
    drawn = b""
    try:
        while chunk := os.read(master, 65536):
            drawn += chunk
    except OSError:  # the terminal's other end is closed: everything has been read
        pass
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"keys" in drawn
    assert b"3/3" in drawn
    piped = subprocess.run(cmd, capture_output=True, check=False)
    assert piped.returncode == 0
    assert piped.stderr == b""
