"""`kmsguard demo` as a new user runs it: a real process, bundled data only, the four parts
of the main job (key policies, IaC, CloudTrail usage, a verified fix)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmsguard.demo import make_cloudtrail

DEMO = Path(make_cloudtrail.__file__).resolve().parent
OUTSIDER = "444455556666"
ROLES = (
    "arn:aws:iam::111122223333:role/batch-nightly",
    "arn:aws:iam::111122223333:role/service-role/orders-api",
    "arn:aws:iam::111122223333:role/analytics-reader",
)


def run_demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # no AWS configuration at all: the demo must not need one
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(cwd / "none")
    return subprocess.run(
        [sys.executable, "-m", "kmsguard", "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> str:
    p = run_demo("--bundled", cwd=tmp_path_factory.mktemp("demo"))
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    return p.stdout


def _part(text: str, number: int) -> str:
    start = text.index(f"== {number}. ")
    end = text.find(f"== {number + 1}. ", start)
    return text[start : end if end >= 0 else len(text)]


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().startswith(needle))


def test_four_parts_in_order(text: str) -> None:
    heads = [line for line in text.splitlines() if line.startswith("== ")]
    assert [h.split(".")[0] for h in heads] == ["== 1", "== 2", "== 3", "== 4"]


def test_part1_key_policies(text: str) -> None:
    part = _part(text, 1)
    assert "judging 8 example key policies" in part
    assert "02-quick-fix-wildcard.json" in part
    assert "8 policies: 1 cross-account, 4 private, 3 public" in part


def test_part2_iac_names_the_exposed_resources_and_lines(text: str) -> None:
    part = _part(text, 2)
    cfn = DEMO / "iac" / "cloudformation" / "keys.yaml"
    tf = DEMO / "iac" / "terraform" / "main.tf"
    exposed = _line_of(cfn, "OrdersExportKey:")
    safe = _line_of(cfn, "OrdersDataKey:")
    tf_exposed = _line_of(tf, 'resource "aws_kms_key" "reports"')
    tf_safe = _line_of(tf, 'resource "aws_kms_key" "reports_archive"')
    assert f"iac/cloudformation/keys.yaml:{exposed}  OrdersExportKey  public critical  KMS001" in (
        part
    )
    assert f"iac/cloudformation/keys.yaml:{safe}  OrdersDataKey  private\n" in part
    assert f"iac/terraform/main.tf:{tf_exposed}  aws_kms_key.reports  public critical" in part
    assert f"iac/terraform/main.tf:{tf_safe}  aws_kms_key.reports_archive  private\n" in part
    assert "2 files scanned; key policies and grants: 2 private, 2 public" in part


def test_part3_usage_shows_the_roles_and_the_outside_caller(text: str) -> None:
    part = _part(text, 3)
    assert make_cloudtrail.KEY_ARN.startswith("arn:aws:kms:eu-west-1:111122223333:key/")
    assert f"{make_cloudtrail.KEY_ARN}: 5 callers, 1 outside the zone of trust" in part
    for role in ROLES:
        assert f"  {role} (111122223333) [role]" in part
    outsider = f"arn:aws:iam::{OUTSIDER}:root ({OUTSIDER}) [account] 7 calls"
    assert f"{outsider}  [OUTSIDE ZONE: in use]" in part
    assert "via:     s3.eu-west-1.amazonaws.com" in part
    assert "denied:  Encrypt=3" in part


def test_part4_fix_keeps_the_roles_and_drops_the_outsider(text: str) -> None:
    part = _part(text, 4)
    assert "verdict: public -> private    strategy: principals" in part
    assert "replay: 146 of 146 trusted calls still allowed (100%), 7 external calls dropped" in part
    lose = part.split("would lose access (outside the zone of trust):", 1)[1].split("\n\n")[0]
    assert f"arn:aws:iam::{OUTSIDER}:root (account {OUTSIDER}): kms:Decrypt, 7 calls" in lose
    assert "FAIL" not in part
    added = "\n".join(line for line in part.splitlines() if line.startswith("+"))
    for role in ROLES:
        assert role in added
    assert "legacy-export" not in added  # only denied: nothing to keep
    assert OUTSIDER not in added


def test_json_has_the_four_parts(tmp_path: Path) -> None:
    p = run_demo("--bundled", "--format", "json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert {f["source"]: f["verdict"] for f in out["policies"]}["02-quick-fix-wildcard.json"] == (
        "public"
    )
    iac = {f["resource"]: (f["file"], f["verdict"]) for f in out["iac"]["findings"]}
    assert iac["OrdersExportKey"] == ("iac/cloudformation/keys.yaml", "public")
    assert iac["aws_kms_key.reports_archive"] == ("iac/terraform/main.tf", "private")
    (key,) = out["usage"]["keys"]
    assert key["key_arn"] == make_cloudtrail.KEY_ARN
    outside = [c["principal"] for c in key["callers"] if c["outside_zone"]]
    assert outside == [f"arn:aws:iam::{OUTSIDER}:root"]
    fix = out["fix"]
    assert fix["offered"] is True
    assert fix["verdict_after"] == "private"
    assert [x["account"] for x in fix["would_lose_access"]] == [OUTSIDER]


def test_bundled_cloudtrail_is_what_the_generator_writes(tmp_path: Path) -> None:
    written = make_cloudtrail.write(tmp_path)
    bundled = sorted((DEMO / "cloudtrail").rglob("*.json.gz"))
    assert [p.relative_to(tmp_path) for p in written] == [
        p.relative_to(DEMO / "cloudtrail") for p in bundled
    ]
    records = 0
    for new, old in zip(written, bundled, strict=True):
        fresh = json.loads(gzip.decompress(new.read_bytes()))
        assert fresh == json.loads(gzip.decompress(old.read_bytes())), old.name
        records += len(fresh["Records"])
    assert 200 <= records <= 500
