"""`kmsguard usage` end to end through the CLI entry point."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import boto3
import pytest

from kmsguard.cli import main
from kmsguard.usage import UsageReport

from .generator import KEY_A, KEY_UNUSED, PARTNER, LogTree
from .helpers import observed


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(["usage", *args])
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_json_output_file(
    scenario: LogTree, log_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "usage.json"
    code, out, _ = run([str(log_tree), "--format", "json", "-o", str(out_file),
                        "--account", "111122223333", "--jobs", "1"], capsys)
    assert code == 0
    assert out == ""
    report = UsageReport.from_json(out_file.read_text())
    assert observed(report) == scenario.expected()
    assert report.zone_accounts == ("111122223333",)


def test_text_output_flags_outside_callers(
    log_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run([str(log_tree), "--key", KEY_A, "--key", KEY_UNUSED], capsys)
    assert code == 0
    assert f"arn:aws:iam::{PARTNER}:role/partner-etl ({PARTNER}) [role] 4 calls" in out
    assert "[OUTSIDE ZONE: in use]" in out
    assert f"{KEY_UNUSED}: UNUSED in the window" in out
    code, out, _ = run([str(log_tree), "--trusted-account", PARTNER, "--key", KEY_A], capsys)
    assert "partner-etl" in out
    assert out.count("OUTSIDE ZONE") == 1  # only the stranger now


def test_csv_output(log_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([str(log_tree), "--format", "csv", "--key", KEY_A], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    legacy = [r for r in rows if r["principal"].endswith("role/legacy-batch")]
    assert legacy == [
        {**legacy[0], "action": "Decrypt", "count": "0", "denied": "2"},
    ]
    assert {r["key_arn"] for r in rows} == {KEY_A}


def test_bad_files_warned_and_exit_4(
    scenario: LogTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = scenario.write(tmp_path)
    (files[0].parent / "broken.json.gz").write_bytes(gzip.compress(b"{")[:-4])
    code, out, err = run([str(tmp_path), "--format", "json"], capsys)
    assert code == 4
    assert "skipped `" in err
    assert "broken.json.gz" in err
    assert "1 unreadable files skipped" in err
    assert json.loads(out)["skipped_files"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no log source given"),
        (["x", "--since", "yesterday"], "is not a date"),
        (["--engine", "athena"], "needs `--table"),
        (["x", "--engine", "athena", "--table", "db.t"], "not SOURCE arguments"),
        (["ftp://host/x"], "not a supported source"),
    ],
)
def test_input_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(args, capsys)
    assert code == 2
    assert message in err


@pytest.mark.integration
def test_s3_and_alias_through_cli(
    aws_env: str, log_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="logs")
    for f in log_tree.rglob("*.json.gz"):
        s3.put_object(Bucket="logs", Key=str(f.relative_to(log_tree)), Body=f.read_bytes())
    kms = boto3.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/fresh", TargetKeyId=key["KeyId"])
    code, out, _ = run(["s3://logs/AWSLogs/", "--key", "alias/fresh", "--key", KEY_A,
                        "--since", "2025-05-18", "--until", "2025-05-21", "--format", "json"],
                       capsys)
    assert code == 0
    data = json.loads(out)
    by_arn = {k["key_arn"]: k for k in data["keys"]}
    assert by_arn[key["Arn"]]["unused"] is True
    assert by_arn[KEY_A]["calls"] > 0


@pytest.mark.integration
def test_all_keys_lists_live_keys_as_unused(
    aws_env: str, log_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    fresh = kms.create_key()["KeyMetadata"]["Arn"]
    code, out, _ = run([str(log_tree), "--all-keys", "--format", "json"], capsys)
    assert code == 0
    by_arn = {k["key_arn"]: k for k in json.loads(out)["keys"]}
    assert by_arn[fresh]["unused"] is True
    assert by_arn[KEY_A]["unused"] is False


def test_unwritable_output_is_an_input_error(
    log_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([str(log_tree), "-o", str(tmp_path / "missing" / "u.json")], capsys)
    assert code == 2
    assert "cannot write" in err
