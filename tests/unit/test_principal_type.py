"""One principal-type enum: every spelling kmsguard meets maps to it."""

from __future__ import annotations

import pytest

from kmsguard.model import PrincipalType

A = "111122223333"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("role", PrincipalType.ROLE),  # usage report
        ("AssumedRole", PrincipalType.ROLE),  # CloudTrail / aws:PrincipalType
        ("iam-user", PrincipalType.IAM_USER),
        ("IAMUser", PrincipalType.IAM_USER),
        ("User", PrincipalType.IAM_USER),
        ("Root", PrincipalType.ROOT),
        ("AWSAccount", None),  # CloudTrail's cross-account copy: guessed from the principal
        ("account", PrincipalType.ACCOUNT),
        ("AWSService", PrincipalType.SERVICE),
        ("service", PrincipalType.SERVICE),
        ("FederatedUser", PrincipalType.FEDERATED_USER),
        ("federated-user", PrincipalType.FEDERATED_USER),
    ],
)
def test_spellings(value: str, expected: PrincipalType | None) -> None:
    principal = f"arn:aws:iam::{A}:role/app"
    assert PrincipalType.read(value, principal) is (expected or PrincipalType.ROLE)


@pytest.mark.parametrize(
    ("principal", "expected", "condition"),
    [
        ("s3.amazonaws.com", PrincipalType.SERVICE, "AWSService"),
        (f"arn:aws:iam::{A}:root", PrincipalType.ROOT, "Account"),
        (f"arn:aws-cn:iam::{A}:user/bob", PrincipalType.IAM_USER, "User"),
        (f"arn:aws:iam::{A}:role/app", PrincipalType.ROLE, "AssumedRole"),
    ],
)
def test_guessed_from_the_principal(
    principal: str, expected: PrincipalType, condition: str
) -> None:
    for value in (None, "", "unknown"):
        found = PrincipalType.read(value, principal)
        assert found is expected
        assert found.condition_value == condition
