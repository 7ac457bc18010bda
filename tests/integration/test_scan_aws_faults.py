"""Faults moto cannot produce, injected by the local fault proxy in front of it: throttling,
latency, AccessDenied on GetKeyPolicy, a whole region failing. Every key must still be
accounted for, errors reported, and the exit code 4 (incomplete) unless something worse."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main

from .aws_seed import OWN, create_key, kms, public_policy, root_policy
from .fault_proxy import FaultPlan, FaultProxy

pytestmark = pytest.mark.integration

REGIONS = ("--region", "us-east-1", "--region", "eu-west-1")


@pytest.fixture
def proxy(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of the test's moto server; boto3 goes through it."""
    fp = FaultProxy(aws_env, FaultPlan(), max_seconds=120)
    monkeypatch.setenv("AWS_ENDPOINT_URL", fp.start())
    try:
        yield fp
    finally:
        fp.stop()


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    with pytest.raises(SystemExit) as exc:
        main(["scan", "aws", "--format", "json", *args])
    out, err = capsys.readouterr()
    assert isinstance(exc.value.code, int)
    return exc.value.code, json.loads(out), err


def test_throttling_and_latency_are_absorbed_by_retries(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {create_key(kms(aws_env, r), root_policy(OWN)) for r in ("us-east-1", "eu-west-1")}
    ids |= {create_key(kms(aws_env, "us-east-1"), root_policy(OWN)) for _ in range(3)}
    proxy.plan.latency = 0.02
    proxy.plan.throttle_first = {"ListKeys": 1, "GetKeyPolicy": 3, "ListGrants": 2}
    code, report, err = scan(capsys, *REGIONS)
    assert code == 0, err
    assert {k["key_id"] for k in report["keys"]} == ids
    assert all(k["status"] == "judged" for k in report["keys"])
    assert proxy.stats["throttled"] == 6
    summary = report["summary"]
    assert summary["http_requests"] == summary["api_calls_total"] + 6  # each retried once


def test_denied_policy_and_failed_region_leave_nothing_out(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    east = kms(aws_env, "us-east-1")
    ok = [create_key(east, root_policy(OWN)) for _ in range(3)]
    denied = create_key(east, root_policy(OWN), alias="alias/locked")
    for _ in range(2):
        create_key(kms(aws_env, "eu-west-1"), public_policy(OWN))
    proxy.plan.deny_policy_keys = frozenset({denied})
    proxy.plan.failing_regions = frozenset({"eu-west-1"})
    code, report, err = scan(capsys, *REGIONS)
    assert code == 4, err
    assert "scan incomplete: 1 key(s) and 1 account/region scope(s) could not be read" in err
    keys = {k["key_id"]: k for k in report["keys"]}
    assert set(keys) == {*ok, denied}
    locked = keys[denied]
    assert locked["status"] == "error"
    assert locked["verdict"] == "error"
    assert [(e["operation"], e["code"]) for e in locked["errors"]] == [
        ("GetKeyPolicy", "AccessDeniedException")
    ]
    # what could be read is still reported
    assert (locked["state"], locked["aliases"], locked["owner_tag"]) == (
        "Enabled",
        ["alias/locked"],
        True,
    )
    assert all(keys[k]["verdict"] == "private" for k in ok)
    [failure] = report["failures"]
    assert (failure["account"], failure["region"]) == (OWN, "eu-west-1")
    assert failure["error"]["code"] == "UnrecognizedClientException"
    summary = report["summary"]
    assert (summary["keys_errored"], summary["failed_scopes"], summary["incomplete"]) == (
        1,
        1,
        True,
    )
    assert summary["verdicts"]["error"] == 1

    # findings at or above --fail-on are worse than incomplete: exit 3
    create_key(east, public_policy(OWN))
    code, report, _ = scan(capsys, *REGIONS)
    assert code == 3
    assert report["summary"]["incomplete"] is True


def test_throttled_beyond_retries_and_server_errors_are_errors(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {create_key(kms(aws_env, "us-east-1"), root_policy(OWN)) for _ in range(2)}
    create_key(kms(aws_env, "eu-west-1"), root_policy(OWN))
    proxy.plan.throttle_always = frozenset({"ListGrants"})
    proxy.plan.failing_regions = frozenset({"eu-west-1"})
    proxy.plan.region_failure_status = 503
    code, report, _ = scan(capsys, *REGIONS, "--max-attempts", "2")
    assert code == 4
    assert {k["key_id"] for k in report["keys"]} == ids
    for key in report["keys"]:
        assert key["status"] == "error"
        assert key["policy_verdict"] == "private"  # the policy was still judged
        assert [(e["operation"], e["code"]) for e in key["errors"]] == [
            ("ListGrants", "ThrottlingException")
        ]
    [failure] = report["failures"]
    assert failure["region"] == "eu-west-1"
    assert failure["error"]["code"] == "KMSInternalException"


def test_max_rps_holds_each_region_to_its_budget(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(5):
        create_key(kms(aws_env, "us-east-1"), root_policy(OWN))
    started = time.monotonic()
    code, report, _ = scan(capsys, "--region", "us-east-1", "--max-rps", "10")
    elapsed = time.monotonic() - started
    assert code == 0
    requests = report["summary"]["http_requests"]
    assert requests == 2 + 4 * 5
    # a burst of 2.5 tokens, then one request every 0.1 s
    assert elapsed >= (requests - 2.5) / 10


def test_proxy_stops_itself(aws_env: str) -> None:
    fp = FaultProxy(aws_env, max_seconds=0.3)
    url = fp.start()
    with urllib.request.urlopen(f"{url}/moto-api/", timeout=5) as resp:
        assert resp.status == 200
    time.sleep(1.0)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/moto-api/", timeout=2)


def test_proxy_refuses_non_loopback_upstream() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        FaultProxy("http://example.com:80")


def test_account_whose_role_cannot_be_assumed_is_reported(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    reachable, locked = "210987654321", "310987654321"
    key = create_key(kms(aws_env, "us-east-1", reachable), root_policy(reachable))
    create_key(kms(aws_env, "us-east-1", locked), root_policy(locked))
    accounts = tmp_path / "accounts.txt"
    accounts.write_text(f"{OWN}\n{reachable}\n{locked}\n")
    proxy.plan.deny_assume_role = frozenset({locked})
    code, report, err = scan(capsys, "--accounts", str(accounts), "--region", "us-east-1")
    assert code == 4, err
    assert [k["key_id"] for k in report["keys"]] == [key]
    [failure] = report["failures"]
    assert (failure["account"], failure["region"]) == (locked, None)
    assert (failure["error"]["operation"], failure["error"]["code"]) == (
        "AssumeRole",
        "AccessDenied",
    )
    assert report["summary"]["accounts"] == 3
    assert proxy.stats["assume_role_denied"] >= 1


def test_every_page_is_followed_when_lists_are_paged(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    east = kms(aws_env, "us-east-1")
    outsiders = [f"arn:aws:iam::{n}:root" for n in ("999900000001", "999900000002")]
    busy = create_key(
        east,
        root_policy(OWN),
        alias="alias/busy",
        grants=(
            (f"arn:aws:iam::{OWN}:role/a", ("Decrypt",)),
            (f"arn:aws:iam::{OWN}:role/b", ("Decrypt",)),
            (outsiders[0], ("Encrypt",)),
            (outsiders[1], ("Decrypt",)),
            (f"arn:aws:iam::{OWN}:role/c", ("Decrypt",)),
        ),
    )
    east.tag_resource(KeyId=busy, Tags=[{"TagKey": f"t{i}", "TagValue": "v"} for i in range(4)])
    others = {create_key(east, root_policy(OWN), alias=f"alias/k{i}") for i in range(4)}
    proxy.plan.page_size = 2
    code, report, err = scan(capsys, "--region", "us-east-1")
    assert code == 3, err
    keys = {k["key_id"]: k for k in report["keys"]}
    assert set(keys) == {busy, *others}  # 5 keys: ListKeys needed 3 pages
    assert sorted(k["aliases"][0] for k in keys.values()) == [
        "alias/busy", "alias/k0", "alias/k1", "alias/k2", "alias/k3"
    ]  # fmt: skip
    b = keys[busy]
    assert b["grants_total"] == 5
    assert sorted(g["grantee_principal"] for g in b["grant_findings"]) == outsiders
    assert len(b["tags"]) == 5  # Owner and t0..t3, over three pages
    assert b["owner_tag"] is True
    calls = report["summary"]["api_calls"]
    assert calls["ListKeys"] == 3
    assert calls["ListGrants"] == 3 + 4  # the busy key's three pages, one for each other key
