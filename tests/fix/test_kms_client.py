"""AWS errors from GetKeyPolicy / PutKeyPolicy become kmsguard errors that say what was (not)
changed (botocore Stubber: no network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from kmsguard.arn import account_of, region_of
from kmsguard.errors import ExitCode, InputError, SourceError
from kmsguard.fix.kms import KeyPolicyClient, KeyPolicyWriteError

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def stubbed() -> Iterator[tuple[KeyPolicyClient, Stubber]]:
    client: Any = boto3.client(
        "kms", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",
    )
    with Stubber(client) as stub:
        yield KeyPolicyClient(client), stub
        stub.assert_no_pending_responses()


def test_access_denied_on_put_key_policy(stubbed: tuple[KeyPolicyClient, Stubber]) -> None:
    kms, stub = stubbed
    stub.add_client_error("put_key_policy", "AccessDeniedException", "not authorized",
                          http_status_code=400)
    with pytest.raises(KeyPolicyWriteError) as exc:
        kms.write(KEY, "{}", saved="version 7")
    assert exc.value.message == f"access denied: kms:PutKeyPolicy on `{KEY}`"
    assert exc.value.hint is not None
    assert "was not changed" in exc.value.hint
    assert "version 7" in exc.value.hint
    assert exc.value.exit_code is ExitCode.INCOMPLETE


def test_other_put_failures_name_the_code(stubbed: tuple[KeyPolicyClient, Stubber]) -> None:
    kms, stub = stubbed
    stub.add_client_error("put_key_policy", "MalformedPolicyDocumentException", "bad principal")
    with pytest.raises(KeyPolicyWriteError, match="MalformedPolicyDocumentException bad"):
        kms.write(KEY, "{}", saved="version 1")


def test_read_errors(stubbed: tuple[KeyPolicyClient, Stubber]) -> None:
    kms, stub = stubbed
    stub.add_client_error("get_key_policy", "NotFoundException", "no such key")
    with pytest.raises(InputError, match="no KMS key"):
        kms.read(KEY)
    stub.add_client_error("get_key_policy", "AccessDeniedException", "denied")
    with pytest.raises(SourceError, match="cannot read the policy"):
        kms.read(KEY)
    stub.add_response("get_key_policy", {"Policy": '{"a": 1}'},
                      {"KeyId": KEY, "PolicyName": "default"})
    assert kms.read(KEY) == '{"a": 1}'


def test_describe_denied_keeps_the_arn_given(stubbed: tuple[KeyPolicyClient, Stubber]) -> None:
    kms, stub = stubbed
    stub.add_client_error("describe_key", "AccessDeniedException", "denied")
    assert kms.key_arn(KEY) == KEY


def test_arn_parts() -> None:
    assert region_of(KEY) == "eu-west-1"
    assert account_of(KEY) == "111122223333"
    assert region_of("1234abcd") is None
    assert account_of("alias/x") is None
