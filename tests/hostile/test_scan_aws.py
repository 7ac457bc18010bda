"""`scan aws` against hostile API answers: garbage bodies, hostile policy numbers, hanging
regions, and many keys sharing one policy. Never "0 keys, clean"; always bounded."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from kmsguard.aws import scan as aws_source
from kmsguard.cli import main
from kmsguard.model import TrustZone
from tests.integration.aws_seed import OWN, create_key, kms, public_policy, root_policy
from tests.integration.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

EAST = ("--region", "us-east-1")


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    with pytest.raises(SystemExit) as exc:
        main(["scan", "aws", "--format", "json", *args])
    out, err = capsys.readouterr()
    assert isinstance(exc.value.code, int)
    return exc.value.code, json.loads(out), err


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("ListKeys", b"<html>502 Bad Gateway</html>"),
        ("ListKeys", b'{"Truncated": false}'),
        ("ListKeys", b"[1, 2, 3]"),
        ("ListKeys", b'{"Keys": [{"KeyId": 7}]}'),
        ("ListAliases", b"\x00\xff garbage"),
        ("ListKeys", b'{"Keys": [], "Count": ' + b"9" * 5000 + b"}"),
    ],
)
def test_garbage_list_answer_makes_the_region_incomplete_not_clean(
    aws_env: str,
    proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
    operation: str,
    body: bytes,
) -> None:
    east = kms(aws_env, "us-east-1")
    for _ in range(3):
        create_key(east, public_policy(OWN))
    proxy.plan.garbage = {operation: body}
    code, report, err = scan(capsys, *EAST)
    assert code == 4, err
    assert report["summary"]["incomplete"] is True
    [failure] = report["failures"]
    assert failure["region"] == "us-east-1"
    assert failure["error"]["code"] == "MalformedResponse"
    assert failure["error"]["operation"] == operation
    assert "could not be read" in err


@pytest.mark.parametrize("operation", ["DescribeKey", "GetKeyPolicy", "ListGrants"])
def test_garbage_key_answer_makes_that_key_an_error(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str], operation: str
) -> None:
    key = create_key(kms(aws_env, "us-east-1"), public_policy(OWN))
    proxy.plan.garbage = {operation: b"not json at all"}
    code, report, err = scan(capsys, *EAST)
    [k] = report["keys"]
    assert k["key_id"] == key
    assert k["status"] == "error"
    assert [e["code"] for e in k["errors"]] == ["MalformedResponse"]
    # a public policy still read is reported (3); otherwise the scan is incomplete (4)
    assert code == (3 if operation in ("DescribeKey", "ListGrants") else 4), err


@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "-" + "1" * 4400]
)
def test_policy_with_unusable_number_is_that_keys_error_and_the_rest_is_judged(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str], number: str
) -> None:
    east = kms(aws_env, "us-east-1")
    hostile = create_key(east, root_policy(OWN))
    public = create_key(east, public_policy(OWN))
    text = json.dumps(public_policy(OWN)).replace(
        '"Resource": "*"}', '"Resource": "*", "Condition": {"NumericLessThan": '
        '{"kms:GrantConstraintType": NUMBER}}}', 1
    ).replace("NUMBER", number)
    proxy.plan.policy_texts = {hostile: text}
    code, report, err = scan(capsys, *EAST)
    assert code == 3, err  # the public key still found
    keys = {k["key_id"]: k for k in report["keys"]}
    assert keys[public]["verdict"] == "public"
    assert keys[hostile]["verdict"] == "error"
    [error] = keys[hostile]["errors"]
    assert error["code"] == "MalformedPolicy"


def test_hanging_region_is_bounded_by_timeout_and_reported(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    create_key(kms(aws_env, "us-east-1"), root_policy(OWN))
    create_key(kms(aws_env, "eu-west-1"), root_policy(OWN))
    proxy.plan.hang_regions = frozenset({"eu-west-1"})
    proxy.plan.hang_seconds = 30
    started = time.monotonic()
    code, report, err = scan(
        capsys,
        *EAST,
        "--region",
        "eu-west-1",
        "--timeout",
        "0.5",
        "--max-attempts",
        "2",
    )
    elapsed = time.monotonic() - started
    assert code == 4, err
    assert elapsed < 10, elapsed  # 2 attempts x 0.5 s plus back-off, not 2 x 60 s
    [failure] = report["failures"]
    assert failure["region"] == "eu-west-1"
    assert "timeout" in failure["error"]["message"].lower()
    assert [k["status"] for k in report["keys"]] == ["judged"]


def test_deadline_reports_what_is_unread(
    aws_env: str, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    east = kms(aws_env, "us-east-1")
    ids = {create_key(east, root_policy(OWN)) for _ in range(4)}
    # every key's calls slow, none hanging: only the deadline stops the scan
    proxy.plan.op_latency = dict.fromkeys(
        ("DescribeKey", "GetKeyPolicy", "ListGrants", "ListResourceTags"), 0.6
    )
    started = time.monotonic()
    code, report, err = scan(capsys, *EAST, "--deadline", "2", "--workers", "1")
    elapsed = time.monotonic() - started
    assert code == 4, err
    assert elapsed < 2 + 0.6 + 3, elapsed  # the deadline, one call in flight, start-up
    keys = {k["key_id"]: k for k in report["keys"]}
    assert set(keys) == ids  # every listed key accounted for
    unread = [k for k in keys.values() if k["status"] == "error"]
    assert unread
    assert all(k["errors"][0]["code"] == "DeadlineExceeded" for k in unread)


def test_identical_policies_share_one_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """18 threads meet one new policy at once: one analysis, 17 waits."""
    calls = 0
    real = aws_source.analyze_policy

    def slow(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(aws_source, "analyze_policy", slow)
    judge = aws_source.PolicyJudge()
    text = json.dumps(public_policy(OWN))
    zone = TrustZone(account=OWN)
    barrier = threading.Barrier(18)
    verdicts: list[str] = []

    def worker() -> None:
        barrier.wait()
        verdicts.append(str(judge.policy(text, zone).verdict))

    threads = [threading.Thread(target=worker) for _ in range(18)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
    assert judge.analyses == 1
    assert verdicts == ["public"] * 18
