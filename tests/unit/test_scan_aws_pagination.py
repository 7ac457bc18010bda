"""Pagination and per-key reading against botocore's Stubber (moto never paginates), the
token bucket, the accounts file and owner-tag matching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from kmsguard.aws.accounts import describe_organization, read_accounts_file
from kmsguard.aws.keys import CallCounter, KeyRef, instrument, list_region, read_key
from kmsguard.aws.ratelimit import TokenBucket
from kmsguard.errors import InputError

ARN = "arn:aws:kms:eu-west-1:111122223333:key/"
ALIAS_ARN = "arn:aws:kms:eu-west-1:111122223333:alias/"


def _kms() -> Any:
    return boto3.client(
        "kms",
        region_name="eu-west-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",  # never contacted: the Stubber answers
    )


def test_list_region_follows_every_page_of_keys_and_aliases() -> None:
    kms = _kms()
    with Stubber(kms) as stub:
        stub.add_response(
            "list_aliases",
            {
                "Aliases": [
                    {"AliasName": "alias/app", "AliasArn": ALIAS_ARN + "a", "TargetKeyId": "k1"},
                    {
                        "AliasName": "alias/aws/ebs",
                        "AliasArn": ALIAS_ARN + "b",
                        "TargetKeyId": "k3",
                    },
                ],
                "Truncated": True,
                "NextMarker": "m1",
            },
            {},
        )
        stub.add_response(
            "list_aliases",
            {
                "Aliases": [
                    {"AliasName": "alias/app-2", "AliasArn": ALIAS_ARN + "c", "TargetKeyId": "k1"},
                    {"AliasName": "alias/unused", "AliasArn": ALIAS_ARN + "d"},  # no target
                ],
                "Truncated": False,
            },
            {"Marker": "m1"},
        )
        stub.add_response(
            "list_keys",
            {
                "Keys": [{"KeyId": "k1", "KeyArn": ARN + "k1"}],
                "Truncated": True,
                "NextMarker": "p2",
            },
            {},
        )
        stub.add_response(
            "list_keys",
            {
                "Keys": [{"KeyId": "k2", "KeyArn": ARN + "k2"}],
                "Truncated": True,
                "NextMarker": "p3",
            },
            {"Marker": "p2"},
        )
        stub.add_response(
            "list_keys",
            {"Keys": [{"KeyId": "k3", "KeyArn": ARN + "k3"}], "Truncated": False},
            {"Marker": "p3"},
        )
        refs = list_region(kms)
        stub.assert_no_pending_responses()
    assert [r.key_id for r in refs] == ["k1", "k2", "k3"]
    assert refs[0].aliases == ("alias/app", "alias/app-2")
    assert refs[0].aws_managed_alias is None
    assert refs[2].aws_managed_alias == "alias/aws/ebs"


def _described(key_id: str, manager: str = "CUSTOMER") -> dict[str, Any]:
    return {"KeyMetadata": {"KeyId": key_id, "KeyManager": manager, "KeyState": "Enabled"}}


def test_read_key_pages_grants_and_tags_and_makes_four_calls() -> None:
    kms = _kms()
    counter = CallCounter()
    instrument(kms, counter, None)
    ref = KeyRef("k1", ARN + "k1")
    with Stubber(kms) as stub:
        stub.add_response("describe_key", _described("k1"), {"KeyId": "k1"})
        stub.add_response(
            "get_key_policy", {"Policy": "{}"}, {"KeyId": "k1", "PolicyName": "default"}
        )
        grant = {"GrantId": "g1", "GranteePrincipal": "arn:aws:iam::999999999999:root"}
        stub.add_response(
            "list_grants",
            {"Grants": [grant], "Truncated": True, "NextMarker": "g"},
            {"KeyId": "k1"},
        )
        stub.add_response(
            "list_grants",
            {"Grants": [{**grant, "GrantId": "g2"}], "Truncated": False},
            {"KeyId": "k1", "Marker": "g"},
        )
        stub.add_response(
            "list_resource_tags",
            {"Tags": [{"TagKey": "a", "TagValue": "1"}], "Truncated": True, "NextMarker": "t"},
            {"KeyId": "k1"},
        )
        stub.add_response(
            "list_resource_tags",
            {"Tags": [{"TagKey": "Owner", "TagValue": "team"}], "Truncated": False},
            {"KeyId": "k1", "Marker": "t"},
        )
        raw = read_key(kms, ref)
        stub.assert_no_pending_responses()
    assert raw.errors == ()
    assert raw.policy == "{}"
    assert [g["GrantId"] for g in raw.grants or ()] == ["g1", "g2"]
    assert raw.tags == (("a", "1"), ("Owner", "team"))
    # four operations per key; pagination adds pages, not operations
    assert set(counter.calls) == {"DescribeKey", "GetKeyPolicy", "ListGrants", "ListResourceTags"}


def test_read_key_records_each_failure_and_keeps_reading() -> None:
    kms = _kms()
    ref = KeyRef("k1", ARN + "k1")
    with Stubber(kms) as stub:
        stub.add_response("describe_key", _described("k1"), {"KeyId": "k1"})
        stub.add_client_error(
            "get_key_policy", "AccessDeniedException", "not authorized", http_status_code=400
        )
        stub.add_client_error(
            "list_grants", "ThrottlingException", "Rate exceeded", http_status_code=400
        )
        stub.add_response("list_resource_tags", {"Tags": [], "Truncated": False}, {"KeyId": "k1"})
        raw = read_key(kms, ref)
    assert raw.policy is None
    assert raw.grants is None
    assert raw.tags == ()
    assert [(e.operation, e.code) for e in raw.errors] == [
        ("GetKeyPolicy", "AccessDeniedException"),
        ("ListGrants", "ThrottlingException"),
    ]


def test_aws_managed_key_stops_after_describe() -> None:
    kms = _kms()
    with Stubber(kms) as stub:
        stub.add_response("describe_key", _described("k9", "AWS"), {"KeyId": "k9"})
        raw = read_key(kms, KeyRef("k9", ARN + "k9"))
        stub.assert_no_pending_responses()
    assert raw.aws_managed
    assert raw.policy is None


def test_organization_accounts_follow_next_token() -> None:
    org = boto3.client(
        "organizations",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",
    )
    with Stubber(org) as stub:
        stub.add_response(
            "describe_organization",
            {"Organization": {"Id": "o-abcdefghij", "MasterAccountId": "111111111111"}},
        )
        stub.add_response(
            "list_accounts",
            {"Accounts": [{"Id": "222222222222", "Status": "ACTIVE"}], "NextToken": "n"},
            {},
        )
        stub.add_response(
            "list_accounts",
            {
                "Accounts": [
                    {"Id": "111111111111", "Status": "ACTIVE"},
                    {"Id": "333333333333", "Status": "SUSPENDED"},
                ]
            },
            {"NextToken": "n"},
        )
        found = describe_organization(org)
    assert found.id == "o-abcdefghij"
    assert found.accounts == ("111111111111", "222222222222")
    assert found.inactive == (("333333333333", "SUSPENDED"),)


def test_token_bucket_waits_for_tokens() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    bucket = TokenBucket(10.0, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(12):
        bucket.acquire()
    # two tokens of burst, then one every 0.1 s: 10 more requests take 1 s
    assert now[0] == pytest.approx(1.0)
    assert len(slept) == 10


def test_accounts_file_reports_every_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "ok.txt"
    good.write_text("# prod\n111111111111 prod\n\n222222222222,staging\n111111111111\n")
    assert read_accounts_file(good) == ("111111111111", "222222222222")
    bad = tmp_path / "bad.txt"
    bad.write_text("1234\n111111111111\nabc\n")
    with pytest.raises(InputError) as info:
        read_accounts_file(bad)
    assert "bad.txt:1: `1234`" in info.value.message
    assert "bad.txt:3: `abc`" in info.value.message


def test_keys_are_started_region_by_region_in_turn() -> None:
    from kmsguard.aws.scan import _RoundRobin

    rr: _RoundRobin[str] = _RoundRobin()
    rr.add(["a1", "a2", "a3"])
    rr.add([])
    rr.add(["b1"])
    first = [rr.pop(), rr.pop(), rr.pop()]
    rr.add(["c1", "c2"])
    rest = []
    while (item := rr.pop()) is not None:
        rest.append(item)
    assert first == ["a1", "b1", "a2"]
    assert rest == ["a3", "c1", "c2"]
