"""Reading usage reports into observed callers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.errors import InputError
from kmsguard.fix.evidence import load_usage_file, usage_evidence
from kmsguard.policy.remediation import ObservedRequest
from kmsguard.policy.remediation.plan_support import replay_requests

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY2 = f"arn:aws:kms:us-east-1:{A}:key/mrk-0000"


def report(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"window": {"since": "2026-01-01"}, "keys": list(keys)}


def test_callers_are_normalized() -> None:
    data = report({"key_arn": KEY, "callers": [
        {"principal": f"arn:aws:sts::{A}:assumed-role/app/i-1", "principal_type": "role",
         "account": A, "actions": {"Decrypt": 3, "kms:GenerateDataKey": 2, "ReEncrypt": 1},
         "via_services": ["s3.us-east-1.amazonaws.com"]},
        {"principal": "logs.amazonaws.com", "principal_type": "service", "account": None,
         "actions": {"Encrypt": 4}},
        {"principal": f"arn:aws:iam::{A}:user/ops", "principal_type": "iam-user",
         "account": A, "actions": {}, "denied": {"Decrypt": 9}},
        {"principal": "AIDAEXAMPLE", "principal_type": "unknown", "account": None,
         "actions": {"Decrypt": 1}},
    ]})
    ev = usage_evidence(data, None, key_account=A)
    assert ev.key_arn == KEY
    assert ev.warnings == ("caller `AIDAEXAMPLE` has no account: not replayed",)
    app, svc = sorted(ev.callers, key=lambda c: c.principal)
    assert app.principal == f"arn:aws:iam::{A}:role/app"
    assert app.principal_type == "AssumedRole"
    assert dict(app.actions) == {"kms:Decrypt": 3, "kms:GenerateDataKey": 2,
                                 "kms:ReEncryptFrom": 1, "kms:ReEncryptTo": 1}
    assert app.via_services == ("s3.us-east-1.amazonaws.com",)
    assert svc.is_service
    assert svc.account == A  # a service acts for the key's account unless told otherwise
    (req,) = replay_requests(svc, "kms:Encrypt")
    assert req.service == "logs.amazonaws.com"
    assert req.context["aws:SourceAccount"] == [A]


def test_request_shapes_carry_encryption_context() -> None:
    data = report({"key_arn": KEY, "callers": [
        {"principal": f"arn:aws:iam::{A}:role/app", "principal_type": "role", "account": A,
         "actions": {"Decrypt": 5},
         "encryption_context": {"app": ["orders"], "tenant": None},
         "requests": [
             {"action": "Decrypt", "via_service": None, "vpc_endpoint": "vpce-1",
              "encryption_context_keys": ["app", "tenant"], "count": 5}]},
    ]})
    (caller,) = usage_evidence(data, KEY, key_account=A).callers
    assert caller.requests == (
        ObservedRequest(
            "kms:Decrypt", None, "vpce-1",
            (("kms:EncryptionContextKeys", ("app", "tenant")),
             ("kms:EncryptionContext:app", ("orders",))),
            5,
        ),
    )
    (req,) = replay_requests(caller, "kms:Decrypt")
    assert req.context["aws:SourceVpce"] == ["vpce-1"]
    assert req.context["kms:EncryptionContext:app"] == ["orders"]


def test_key_selection() -> None:
    data = report({"key_arn": KEY, "callers": []}, {"key_arn": KEY2, "callers": []})
    with pytest.raises(InputError, match="covers 2 keys"):
        usage_evidence(data, None, key_account=A)
    assert usage_evidence(data, "mrk-0000", key_account=A).key_arn == KEY2
    with pytest.raises(InputError, match="no usage of"):
        usage_evidence(data, f"arn:aws:kms:us-east-1:{A}:key/other", key_account=A)


def test_not_a_report(tmp_path: Path) -> None:
    path = tmp_path / "u.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="not a kmsguard usage report"):
        load_usage_file(path, None, key_account=A)
    path.write_text("{oops")
    with pytest.raises(InputError, match="not JSON"):
        load_usage_file(path, None, key_account=A)
    path.write_text(json.dumps(report({"key_arn": KEY, "callers": [{"actions": {}}]})))
    with pytest.raises(InputError, match="caller #0"):
        load_usage_file(path, None, key_account=A)
