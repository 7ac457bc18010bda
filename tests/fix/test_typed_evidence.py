"""Usage hands typed callers to remediation: the CloudTrail path converts the usage
analysis' `Caller`s directly (no JSON round trip), and gives the same evidence as reading
the same report from its JSON form."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsguard.demo import make_cloudtrail
from kmsguard.fix.evidence import observed_caller, usage_evidence, usage_from_cloudtrail
from kmsguard.model import PrincipalType, TrustZone
from kmsguard.usage import Caller, ContextKey, RequestShape, UsageReport, analyze_usage

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LOGS = Path(make_cloudtrail.__file__).resolve().parent / "cloudtrail"


def _caller(**kw: object) -> Caller:
    base: dict[str, object] = {
        "principal": f"arn:aws:sts::{A}:assumed-role/app/i-0abc",
        "principal_type": PrincipalType.ROLE,
        "account": A,
        "principal_id": "AROAEXAMPLE",
        "actions": (("Decrypt", 4), ("ReEncrypt", 2), ("Encrypt", 0)),
        "denied": (),
        "errors": (),
        "via_services": ("s3.us-east-1.amazonaws.com",),
        "vpc_endpoints": (),
        "encryption_context": (ContextKey("app", ("orders",)), ContextKey("id", None)),
        "requests": (
            RequestShape("ReEncrypt", None, None, ("app",), 2),
            RequestShape("Decrypt", "s3.us-east-1.amazonaws.com", None, (), 4),
        ),
        "first_seen": "2026-01-01T00:00:00Z",
        "last_seen": "2026-01-02T00:00:00Z",
        "outside_zone": False,
    }
    base.update(kw)
    return Caller(**base)  # type: ignore[arg-type]


def test_a_typed_caller_becomes_evidence() -> None:
    observed = observed_caller(_caller(), A)
    assert not isinstance(observed, str)
    assert observed is not None
    assert observed.principal == f"arn:aws:iam::{A}:role/app"
    assert observed.principal_type == "AssumedRole"
    # ReEncrypt is both halves; a zero count is no call
    assert observed.actions == (
        ("kms:Decrypt", 4), ("kms:ReEncryptFrom", 2), ("kms:ReEncryptTo", 2)
    )
    assert [r.action for r in observed.requests] == [
        "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:Decrypt"
    ]
    assert observed.requests[0].context == (
        ("kms:EncryptionContextKeys", ("app",)),
        ("kms:EncryptionContext:app", ("orders",)),
    )


@pytest.mark.parametrize(
    "caller",
    [
        _caller(),
        _caller(principal="s3.amazonaws.com", principal_type=PrincipalType.SERVICE, account=None,
                requests=()),
        _caller(principal_type=PrincipalType.UNKNOWN, principal=f"arn:aws:iam::{A}:user/bob"),
        _caller(actions=(("Decrypt", 0),)),
    ],
)
def test_typed_and_json_paths_agree(caller: Caller) -> None:
    typed = observed_caller(caller, A)
    report = {"keys": [{"key_arn": KEY, "callers": [caller.to_json()]}]}
    read = usage_evidence(report, KEY, key_account=A)
    assert read.callers == ((typed,) if typed is not None else ())


def test_cloudtrail_evidence_never_goes_through_json(monkeypatch: pytest.MonkeyPatch) -> None:
    zone = TrustZone(account=make_cloudtrail.OWNER)
    report = analyze_usage([LOGS], zone=zone, keys=[make_cloudtrail.KEY_ARN])
    expected = usage_evidence(
        report.to_dict(), make_cloudtrail.KEY_ARN, key_account=make_cloudtrail.OWNER
    )

    def no_json(self: UsageReport) -> dict[str, object]:
        raise AssertionError("the usage report was turned into JSON")

    monkeypatch.setattr(UsageReport, "to_dict", no_json)
    got = usage_from_cloudtrail(
        [str(LOGS)], make_cloudtrail.KEY_ARN, key_account=make_cloudtrail.OWNER, zone=zone
    )
    assert got.callers == expected.callers
    assert len(got.callers) >= 3
    assert got.key_arn == make_cloudtrail.KEY_ARN
