"""The one ARN parser and builder."""

from __future__ import annotations

import pytest

from kmsguard.arn import (
    Arn,
    account_of,
    key_arn,
    parse_arn,
    partition_of,
    region_of,
    role_arn,
    root_arn,
)

KEY = "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab"


def test_parse_keeps_every_part_and_round_trips() -> None:
    arn = parse_arn(KEY)
    assert arn == Arn("aws-cn", "kms", "cn-north-1", "111122223333", "key/1234abcd-12ab")
    assert arn is not None
    assert arn.resource_type == "key"
    assert str(arn) == KEY
    # the resource keeps its own colons
    session = "arn:aws:sts::111122223333:assumed-role/app/i-0:1"
    parsed = parse_arn(session)
    assert parsed is not None
    assert parsed.resource == "assumed-role/app/i-0:1"
    assert parsed.region == ""


@pytest.mark.parametrize(
    "text", ["", None, "alias/x", "1234abcd", "arn:aws:kms:us-east-1", "ARN:aws:kms:r:1:key/k"]
)
def test_not_an_arn(text: str | None) -> None:
    assert parse_arn(text) is None
    assert region_of(text) is None
    assert account_of(text) is None


def test_parts() -> None:
    assert region_of(KEY) == "cn-north-1"
    assert account_of(KEY) == "111122223333"
    assert partition_of(KEY) == "aws-cn"
    assert region_of("arn:aws:iam::111122223333:root") is None
    assert account_of("arn:aws:s3:::bucket") is None
    assert partition_of("not-an-arn") == "aws"
    assert partition_of("arn:aws-us-gov") == "aws-us-gov"


def test_builders() -> None:
    assert root_arn("111122223333") == "arn:aws:iam::111122223333:root"
    assert role_arn("111122223333", "Admin", "aws-cn") == "arn:aws-cn:iam::111122223333:role/Admin"
    assert key_arn("eu-west-1", "111122223333", "k") == "arn:aws:kms:eu-west-1:111122223333:key/k"
