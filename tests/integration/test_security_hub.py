"""Security Hub: `scan aws --security-hub` imports the ASFF findings with BatchImportFindings
(moto server over HTTP), and a finding the history store knows fixed is imported again as
RESOLVED / ARCHIVED. The store is issue 15's; here a fake answers the same interface
("which findings are known fixed") from the previous scan's findings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from kmsguard.aws.result import ScanResult, ScopeFailure
from kmsguard.cli import main
from kmsguard.report.asff import FixedFinding, asff_findings, problems

from .aws_seed import OWN, create_key, key_arn, kms, public_policy, root_policy, session

pytestmark = pytest.mark.integration


class PreviousScan:
    """The fake store: it remembers one earlier scan, and a finding of it that the new
    scan no longer reports is known fixed."""

    def __init__(self, findings: list[dict[str, Any]]) -> None:
        self.findings = findings

    def known_fixed(self, result: ScanResult) -> Iterable[FixedFinding]:
        now = {f"{f.origin.source}/{f.rule_id}" for f in result.findings()}
        for f in self.findings:
            if f["Id"] not in now:
                yield FixedFinding(
                    key_arn=f["Resources"][0]["Id"],
                    account=f["AwsAccountId"],
                    region=f["Region"],
                    rule_id=f["ProductFields"]["kmsguard/RuleId"],
                )


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(["scan", "aws", "--region", "us-east-1", "--region", "eu-west-1", *args])
    _out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), err


def _hub_findings(url: str, region: str) -> dict[str, dict[str, Any]]:
    hub = session(url).client("securityhub", region_name=region)
    return {f["Id"]: f for f in hub.get_findings()["Findings"]}


def test_import_then_resolve_a_fixed_key(
    aws_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    east, west = kms(aws_env, "us-east-1"), kms(aws_env, "eu-west-1")
    open_east = create_key(east, public_policy(OWN), alias="alias/public")
    create_key(west, public_policy(OWN), alias="alias/public")
    first = tmp_path / "first.json"
    code, err = _scan(capsys, "--format", "asff", "-o", str(first), "--security-hub", "-v")
    assert code == 3, err
    exported = json.loads(first.read_text())
    assert exported
    assert all(problems(f) == [] for f in exported)
    assert "Security Hub:" in err
    east_hub, west_hub = _hub_findings(aws_env, "us-east-1"), _hub_findings(aws_env, "eu-west-1")
    assert set(east_hub) | set(west_hub) == {f["Id"] for f in exported}
    assert all(f["Region"] == "eu-west-1" for f in west_hub.values())
    fixed_arn = key_arn(OWN, "us-east-1", open_east)
    fixed_ids = {i for i, f in east_hub.items() if f["Resources"][0]["Id"] == fixed_arn}
    assert fixed_ids
    assert all(east_hub[i]["RecordState"] == "ACTIVE" for i in fixed_ids)

    # the key is fixed; the store (a fake here) knows what the first scan reported
    east.put_key_policy(KeyId=open_east, PolicyName="default", Policy=json.dumps(root_policy(OWN)))
    store = PreviousScan(exported)
    monkeypatch.setattr("kmsguard.cli.scan_aws.known_fixed", lambda *_: store)
    second = tmp_path / "second.json"
    code, err = _scan(capsys, "--format", "asff", "-o", str(second), "--security-hub")
    assert code == 3, err  # the west key is still public
    records = {f["Id"]: f for f in json.loads(second.read_text())}
    for i in fixed_ids:
        assert records[i]["RecordState"] == "ARCHIVED"
        assert records[i]["Workflow"]["Status"] == "RESOLVED"
        assert records[i]["Compliance"]["Status"] == "PASSED"
        assert problems(records[i]) == []
    assert all(
        r["RecordState"] == "ACTIVE" for i, r in records.items() if i not in fixed_ids
    )
    east_hub = _hub_findings(aws_env, "us-east-1")
    for i in fixed_ids:
        assert east_hub[i]["RecordState"] == "ARCHIVED"
        assert east_hub[i]["Workflow"]["Status"] == "RESOLVED"
    west_hub = _hub_findings(aws_env, "eu-west-1")
    assert all(f["RecordState"] == "ACTIVE" for f in west_hub.values())


def test_nothing_is_resolved_in_a_scope_that_failed_or_a_finding_still_present(
    aws_env: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    east = kms(aws_env, "us-east-1")
    key = create_key(east, public_policy(OWN))
    out = tmp_path / "a.json"
    _scan(capsys, "--format", "asff", "-o", str(out))
    exported = json.loads(out.read_text())
    from kmsguard.aws.result import ReadError

    still = PreviousScan(exported)
    result = ScanResult(keys=())  # a scan that found nothing ...
    failed = ScanResult(
        keys=(),
        failures=(ScopeFailure(OWN, "us-east-1", ReadError("ListKeys", "AccessDenied", "no")),),
    )
    resolved = [f for f in asff_findings(result, fixed=still) if f["RecordState"] == "ARCHIVED"]
    assert {f["Resources"][0]["Id"] for f in resolved} == {key_arn(OWN, "us-east-1", key)}
    # ... but when the region could not be read, nothing is known to be fixed there
    assert asff_findings(failed, fixed=still) == []


def test_the_history_store_says_which_findings_are_fixed(
    aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real store (a SQLite file): the first recorded scan opens the findings, the
    key is fixed, the second recorded scan exports them RESOLVED / ARCHIVED."""
    east = kms(aws_env, "us-east-1")
    key = create_key(east, public_policy(OWN))
    db = f"sqlite:///{tmp_path / 'history.db'}"
    first = tmp_path / "first.json"
    code, err = _scan(capsys, "--format", "asff", "-o", str(first), "--record", "--db", db)
    assert code == 3, err
    opened = {f["Id"] for f in json.loads(first.read_text())}
    assert all(f["RecordState"] == "ACTIVE" for f in json.loads(first.read_text()))
    east.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(root_policy(OWN)))
    second = tmp_path / "second.json"
    code, err = _scan(capsys, "--format", "asff", "-o", str(second), "--record", "--db", db)
    records = {f["Id"]: f for f in json.loads(second.read_text())}
    public = {i for i in opened if i.endswith("/KMS001")}
    assert public
    for i in public:
        assert records[i]["RecordState"] == "ARCHIVED"
        assert records[i]["Workflow"]["Status"] == "RESOLVED"
    # without a store nothing is resolved
    third = tmp_path / "third.json"
    _scan(capsys, "--format", "asff", "-o", str(third))
    assert all(f["RecordState"] == "ACTIVE" for f in json.loads(third.read_text()))
