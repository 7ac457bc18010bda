"""Commands that read AWS never hang a CI job: `scan aws` and `usage` (S3, Athena) have a
default --deadline, `0` / `none` lifts it, and at the deadline the run ends with exit 4 and
names what it did not finish. Stalls come from the fault proxy in front of a moto server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from kmsguard.cli import main
from kmsguard.usage import analyze_usage
from kmsguard.usage.sources import LogRef
from tests.integration.aws_seed import OWN, create_key, kms, root_policy
from tests.integration.fault_proxy import FaultProxy
from tests.usage.generator import standard_scenario

EAST = ("--region", "us-east-1")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    assert isinstance(exc.value.code, int)
    return exc.value.code, out, err


def test_scan_aws_has_a_default_deadline_and_none_or_0_lifts_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "scan", "aws", "--help")
    assert code == 0
    assert "default 3600 s" in " ".join(out.split())
    for bad in ("soon", "0.5", "-3", "inf", "nan"):
        code, _, err = run(capsys, "scan", "aws", "--deadline", bad)
        assert code == 2, bad
        assert "--deadline" in err
        assert "Traceback" not in err


@pytest.mark.parametrize("value", ["none", "0", "NONE"])
def test_scan_aws_without_a_limit_still_scans(
    aws_env: str, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    create_key(kms(aws_env, "us-east-1"), root_policy(OWN))
    code, out, err = run(capsys, "scan", "aws", *EAST, "--format", "json", "--deadline", value)
    assert code == 0, err
    assert [k["status"] for k in json.loads(out)["keys"]] == ["judged"]


def test_a_stalled_caller_identity_ends_at_the_deadline(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before any account is listed (sts:GetCallerIdentity) the deadline holds too."""
    proxy.plan.op_latency = {"GetCallerIdentity": 30.0}
    started = time.monotonic()
    code, out, err = run(
        capsys, "scan", "aws", *EAST, "--deadline", "2", "--timeout", "60", "--max-attempts", "1"
    )
    elapsed = time.monotonic() - started
    assert code == 4, err
    assert elapsed < 2 + 4, elapsed
    assert "--deadline of 2 s passed while reading the caller identity" in err
    assert "no account was scanned" in err
    assert out == ""


def test_the_deadline_names_the_keys_it_left_unread(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    east = kms(aws_env, "us-east-1")
    for _ in range(3):
        create_key(east, root_policy(OWN))
    proxy.plan.op_latency = dict.fromkeys(("DescribeKey", "GetKeyPolicy"), 1.5)
    code, out, err = run(
        capsys, "scan", "aws", *EAST, "--format", "json", "--deadline", "3", "--workers", "1"
    )
    assert code == 4, err
    assert "the --deadline of 3 s passed; not read:" in err
    report = json.loads(out)
    unread = [k["arn"] for k in report["keys"] if k["status"] == "error"]
    scopes = [f["region"] for f in report["failures"]]
    assert unread or scopes  # a loaded machine may not even have listed the region
    for arn in unread[:5]:
        assert arn in err
    if scopes:
        assert "region us-east-1" in err


def test_config_file_deadline_none(
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_key(kms(aws_env, "us-east-1"), root_policy(OWN))
    (tmp_path / "k.toml").write_text('[aws]\ndeadline = "none"\nformat = "json"\n')
    code, out, err = run(capsys, "scan", "aws", *EAST, "--config", str(tmp_path / "k.toml"))
    assert code == 0, err
    assert json.loads(out)["keys"]


def _trail_in_s3(tmp_path: Path) -> None:
    root = tmp_path / "trail"
    standard_scenario().write(root, per_file=5)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="trail")
    for f in sorted(root.rglob("*.json.gz")):
        s3.put_object(Bucket="trail", Key=str(f.relative_to(root)), Body=f.read_bytes())


def test_usage_on_a_stalled_s3_names_the_unread_logs_and_exits_4(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _trail_in_s3(tmp_path)
    proxy.plan.op_latency = {"GetObject": 2.5}  # every object read stalls
    started = time.monotonic()
    code, out, err = run(
        capsys, "usage", "s3://trail/AWSLogs/", "--jobs", "1", "--deadline", "2",
        "--format", "json", "--account", OWN,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert code == 4, err
    assert elapsed < 30, elapsed  # the files in flight finish; none is started after
    assert "not read: the --deadline of 2 s passed" in err
    assert "skipped `s3://trail/AWSLogs/" in err
    skipped = json.loads(out)["skipped"]
    assert skipped
    assert all(s["reason"] == "not read: the --deadline of 2 s passed" for s in skipped)


def test_usage_reads_local_files_without_a_default_deadline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "usage", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "Default 3600 s with s3:// sources or --engine athena, no limit for local files" in text


class _SlowSource:
    """A log source whose listing and reads stall, as a hung S3 would."""

    def __init__(self, name: str, list_seconds: float, files: int = 3) -> None:
        self.name, self.list_seconds, self.files = name, list_seconds, files

    def list_logs(self, dates: object) -> list[LogRef]:
        time.sleep(self.list_seconds)
        return [LogRef(name=f"{self.name}/{i}.json.gz", bucket="b", key=str(i))
                for i in range(self.files)]

    def fetch(self, ref: LogRef) -> bytes:
        time.sleep(0.6)
        return json.dumps({"Records": []}).encode()

    def __str__(self) -> str:
        return self.name


def test_usage_deadline_covers_listing_and_reading() -> None:
    """A source still unlisted and files not started at the deadline are skipped, each
    named with the reason; what was read before it counts."""
    slow, late = _SlowSource("s3://slow", 1.2), _SlowSource("s3://late", 0)
    report = analyze_usage([slow, late], jobs=1, deadline=1)
    reasons = {s.name: s.reason for s in report.skipped}
    assert reasons == {
        "s3://late": "not read: the --deadline of 1 s passed",
        **{f"s3://slow/{i}.json.gz": "not read: the --deadline of 1 s passed" for i in range(3)},
    }
    assert report.incomplete
    quick = analyze_usage([_SlowSource("s3://quick", 0, files=2)], jobs=1, deadline=30)
    assert (quick.skipped, quick.files) == ((), 2)
