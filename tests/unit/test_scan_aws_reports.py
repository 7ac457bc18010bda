"""Live-scan reports from hand-built results: ASFF validity and batching, CSV rows for
failures, the summary's owner-tag share, exit-relevant severities."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from kmsguard.aws.result import KeyResult, ReadError, ScanResult, ScopeFailure
from kmsguard.model import Assessment, Exposure, ExposureKind, Severity, Verdict
from kmsguard.report.asff import BATCH_LIMIT, asff_findings, batches, problems
from kmsguard.report.csv_report import render_csv

ACCOUNT = "111122223333"


def _key(n: int, **kw: object) -> KeyResult:
    base: dict[str, object] = {
        "arn": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k{n}",
        "key_id": f"k{n}",
        "account": ACCOUNT,
        "region": "eu-west-1",
        "state": "Enabled",
        "assessment": Assessment(Verdict.PRIVATE, Severity.NONE),
        "owner_tag": True,
    }
    base.update(kw)
    return KeyResult(**base)  # type: ignore[arg-type]


PUBLIC = Assessment(
    Verdict.PUBLIC,
    Severity.CRITICAL,
    exposures=(
        Exposure(
            kind=ExposureKind.PUBLIC,
            severity=Severity.CRITICAL,
            actions=("kms:Decrypt",),
            principals=("*",),
            statements=("Open",),
            witness=None,
        ),
    ),
)


def test_asff_findings_are_complete_and_batched() -> None:
    keys = tuple(_key(i, assessment=PUBLIC, owner_tag=False) for i in range(120))
    findings = asff_findings(ScanResult(keys=keys), now=datetime(2026, 1, 2, tzinfo=UTC))
    assert len(findings) == 240  # KMS001 and KMS005 per key
    assert all(problems(f) == [] for f in findings)
    assert len({f["Id"] for f in findings}) == 240
    first = findings[0]
    assert first["CreatedAt"] == "2026-01-02T00:00:00.000Z"
    assert first["Severity"]["Label"] == "CRITICAL"
    assert first["ProductArn"] == (
        f"arn:aws:securityhub:eu-west-1:{ACCOUNT}:product/{ACCOUNT}/default"
    )
    assert [len(b) for b in batches(findings)] == [BATCH_LIMIT, BATCH_LIMIT, 40]


def test_asff_problems_names_what_security_hub_would_reject() -> None:
    [finding] = asff_findings(ScanResult(keys=(_key(1, assessment=PUBLIC),)))
    del finding["GeneratorId"]
    finding["Title"] = "x" * 300
    finding["Resources"] = [{"Type": "AwsKmsKey"}]
    assert problems(finding) == [
        "`GeneratorId` is missing",
        "`Title` is longer than 256 characters",
        "`Resources[0].Id` is missing",
    ]


def test_csv_has_a_row_for_every_key_and_every_failed_scope() -> None:
    denied = ReadError("GetKeyPolicy", "AccessDeniedException", "no")
    result = ScanResult(
        keys=(
            _key(1, assessment=PUBLIC),
            _key(2, assessment=None, errors=(denied,), owner_tag=None),
            _key(3, skipped="AWS managed key (alias/aws/ebs)", assessment=None),
        ),
        failures=(ScopeFailure(ACCOUNT, "ap-east-1", ReadError("ListKeys", "X", "down")),),
    )
    rows = list(csv.DictReader(io.StringIO(render_csv(result))))
    assert [(r["status"], r["verdict"]) for r in rows] == [
        ("judged", "public"),
        ("error", "error"),
        ("skipped", ""),
        ("region-failed", ""),
    ]
    assert rows[1]["errors"] == "GetKeyPolicy: AccessDeniedException: no"
    assert rows[3]["region"] == "ap-east-1"


def test_summary_and_severities() -> None:
    denied = ReadError("ListGrants", "ThrottlingException", "Rate exceeded")
    result = ScanResult(
        keys=(
            _key(1, assessment=PUBLIC),
            _key(2, owner_tag=False),
            _key(3, errors=(denied,), owner_tag=None),
            _key(4, skipped="AWS managed key (KeyManager AWS)", assessment=None),
        ),
        accounts=(ACCOUNT,),
        regions_scanned=1,
    )
    s = result.summary()
    assert (s["keys_scanned"], s["keys_skipped"], s["keys_errored"]) == (3, 1, 1)
    assert s["owner_tag_share"] == 0.5  # key 3's tags were not read: not counted
    assert s["verdicts"] == {"public": 1, "cross-account": 0, "private": 2, "error": 0}
    assert result.incomplete
    # read errors make the scan incomplete; they are not findings for --fail-on
    assert sorted(result.severities(), key=lambda x: x.rank) == [Severity.INFO, Severity.CRITICAL]
