"""Items 4, 10 and the missing-path part of 13: only regular files are read, with a size
limit; Terraform's file() reads only inside the scanned tree; one bad PATH does not hide
the report of the good ones. Every run is a real process with a timeout: a blocked read
fails the test instead of hanging the suite."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from .helpers import ACCOUNT, policy, run

DEV_ZERO = Path("/dev/zero")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


def test_check_fifo_is_an_input_error_not_a_hang(fifo: Path, tmp_path: Path) -> None:
    good = tmp_path / "public.json"
    good.write_text(json.dumps(policy(public=True)))
    proc = run("check", "--format", "json", "--account", ACCOUNT, str(fifo), str(good), timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"`{fifo}` is not a regular file: it is a FIFO" in proc.stderr
    results = {r["source"]: r["verdict"] for r in json.loads(proc.stdout)}
    assert results == {str(fifo): "error", str(good): "public"}


def test_check_dev_zero_is_an_input_error_not_memory_exhaustion() -> None:
    proc = run("check", str(DEV_ZERO), timeout=30)
    assert proc.returncode == 2
    assert "is not a regular file: it is a character device" in proc.stderr


def test_scan_iac_on_a_fifo_or_device_is_an_input_error(fifo: Path) -> None:
    for target in (fifo, DEV_ZERO):
        proc = run("scan", "iac", "--format", "json", str(target), timeout=30)
        assert proc.returncode != 0, (target, proc.stdout)
        [finding] = json.loads(proc.stdout)
        assert finding["verdict"] == "error"
        assert "not a regular file" in finding["errors"][0]


def test_scan_iac_reports_a_fifo_inside_a_folder(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "main.tf")
    proc = run("scan", "iac", "--format", "json", str(tmp_path), timeout=30)
    assert proc.returncode == 4, proc.stderr
    [finding] = json.loads(proc.stdout)
    assert "FIFO" in finding["errors"][0]


def _module(folder: Path, expression: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text(
        f'resource "aws_kms_key" "k" {{\n  policy = {expression}\n}}\n'
    )
    return folder


@pytest.mark.parametrize("call", ["file", "templatefile"])
def test_terraform_file_of_a_fifo_or_device_is_unresolved_not_a_hang(
    tmp_path: Path, call: str
) -> None:
    os.mkfifo(tmp_path / "policy.json")
    args = ', {}' if call == "templatefile" else ""
    for target in ("${path.module}/policy.json", str(DEV_ZERO)):
        module = _module(tmp_path / f"m-{len(target)}", f'{call}("{target}"{args})')
        if target.startswith("$"):
            (module / "policy.json").unlink(missing_ok=True)
            os.mkfifo(module / "policy.json")
        proc = run(
            "scan", "iac", "--format", "json", "--allow-path", "/dev", str(module), timeout=30
        )
        assert proc.returncode == 4, proc.stderr
        findings = {f["resource"]: f for f in json.loads(proc.stdout)}
        finding = findings["aws_kms_key.k"]
        assert finding["verdict"] == "unresolved"
        assert "not a regular file" in " ".join(finding["errors"])


SECRET = "TOP-SECRET-3f9a"


def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "credentials.json"
    secret.write_text(json.dumps(policy(public=True)).replace("Everyone", SECRET))
    return secret


@pytest.mark.parametrize("how", ["absolute", "relative", "symlink"])
def test_terraform_file_outside_the_scanned_tree_is_not_read(tmp_path: Path, how: str) -> None:
    secret = _secret(tmp_path)
    tree = tmp_path / "repo"
    if how == "absolute":
        module = _module(tree, f'file("{secret}")')
    elif how == "relative":
        module = _module(tree, 'file("${path.module}/../outside/credentials.json")')
    else:
        module = _module(tree, 'file("${path.module}/policy.txt")')
        (module / "policy.txt").symlink_to(secret)
    proc = run("scan", "iac", "--format", "sarif", "--account", ACCOUNT, str(tree), timeout=60)
    assert SECRET not in proc.stdout
    assert proc.returncode == 4, proc.stderr
    sarif = json.loads(proc.stdout)
    [result] = sarif["runs"][0]["results"]
    assert "outside the scanned folders" in json.dumps(result)
    # allowed explicitly, it is read and judged
    proc = run(
        "scan", "iac", "--format", "json", "--account", ACCOUNT,
        "--allow-path", str(secret.parent), str(tree), timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    [finding] = json.loads(proc.stdout)
    assert finding["verdict"] == "public"


def test_scan_iac_missing_path_beside_a_good_one(tmp_path: Path) -> None:
    good = tmp_path / "public.json"
    good.write_text(json.dumps(policy(public=True)))
    missing = tmp_path / "nope"
    proc = run("scan", "iac", "--format", "json", "--account", ACCOUNT, str(missing), str(good))
    assert proc.returncode == 2, proc.stderr
    [finding] = json.loads(proc.stdout)
    assert finding["verdict"] == "public"
    assert f"no such file or folder: `{missing}`" in proc.stderr


def _log(path: Path, records: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path


def _record(time: str, key: str = "k1", account: str = ACCOUNT) -> dict[str, object]:
    return {
        "eventVersion": "1.08",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "eventTime": time,
        "awsRegion": "eu-west-1",
        "eventType": "AwsApiCall",
        "recipientAccountId": account,
        "userIdentity": {
            "type": "AssumedRole",
            "accountId": account,
            "arn": f"arn:aws:sts::{account}:assumed-role/app/i-1",
            "principalId": "AROAEXAMPLE:i-1",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/app"}
            },
        },
        "resources": [
            {"ARN": f"arn:aws:kms:eu-west-1:{account}:key/{key}", "type": "AWS::KMS::Key"}
        ],
        "requestParameters": {},
    }


def test_usage_missing_path_beside_a_good_one(tmp_path: Path) -> None:
    log = _log(tmp_path / "logs" / "a.json.gz", [_record("2026-11-20T10:00:00Z")])
    proc = run("usage", "--format", "json", str(tmp_path / "nope"), str(log))
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert [k["key_arn"].rsplit("/", 1)[-1] for k in report["keys"]] == ["k1"]
    assert "nope" in proc.stderr


def test_usage_fifo_source_is_an_input_error(fifo: Path) -> None:
    proc = run("usage", str(fifo), timeout=30)
    assert proc.returncode == 2
    assert "FIFO" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("scan", "iac", "--config", "{fifo}", "."),
        ("scan", "aws", "--accounts", "{fifo}"),
        ("fix", "apply", "--key", "arn:aws:kms:us-east-1:111122223333:key/k", "--plan", "{fifo}"),
        ("fix", "plan", "--policy", "{fifo}", "--usage", "{fifo}", "--account", ACCOUNT),
    ],
    ids=["iac-config", "aws-accounts", "fix-plan-file", "fix-policy-file"],
)
def test_option_files_that_are_fifos_are_input_errors(
    fifo: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc = run(
        *(a.format(fifo=fifo) for a in args),
        timeout=30,
        cwd=tmp_path,
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_ENDPOINT_URL":
             "http://127.0.0.1:9"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "not a regular file" in proc.stderr
