"""The KMS action catalog is generated from botocore's KMS service model: a KMS operation
that AWS adds and the catalog has not classified fails here (run scripts/gen_kms_actions.py
and classify it by hand)."""

from __future__ import annotations

import json
from importlib import resources

import botocore.session
import pytest

from kmsguard.model import Severity, TrustZone, Verdict
from kmsguard.policy import KMS_ACTIONS, action_severity, analyze_policy

DATA = json.loads(resources.files("kmsguard.policy").joinpath("kms_actions.json").read_text())


def test_every_botocore_kms_operation_is_classified() -> None:
    model = botocore.session.get_session().get_service_model("kms")
    missing = sorted(set(model.operation_names) - set(DATA["operations"]))
    assert not missing, f"run scripts/gen_kms_actions.py and classify: {missing}"
    for op in model.operation_names:
        for action in DATA["operations"][op]:
            assert DATA["actions"][action]["tier"] in ("critical", "high", "low", "info"), op
            assert f"kms:{action}" in KMS_ACTIONS


def test_the_catalog_covers_the_2025_operations() -> None:
    for name in ("Decapsulate", "Encapsulate", "DeriveSharedSecret", "GetKeyLastUsage"):
        assert f"kms:{name}" in KMS_ACTIONS
    assert len(DATA["operations"]) >= 56


@pytest.mark.parametrize("action", ["kms:Decapsulate", "kms:NewOperation2031"])
def test_an_action_allowed_to_everyone_is_never_nothing(action: str) -> None:
    policy = {
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": action, "Resource": "*"}]
    }
    a = analyze_policy(policy, TrustZone(account="123456789012"))
    assert a.verdict is Verdict.PUBLIC
    assert a.severity is Severity.CRITICAL
    assert action in a.exposed_actions
    if action == "kms:NewOperation2031":
        assert any("not in kmsguard's KMS action catalog" in n for n in a.notes)
    assert action_severity(action) is Severity.CRITICAL
