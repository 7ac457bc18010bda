"""`--record` end to end: `scan aws` against a moto server, `scan iac` on real files, and
`report` reading the same SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmsguard.store import FindingStatus, History, open_database
from tests.cli import run

from .aws_seed import OWN, create_key, key_arn, kms, public_policy, root_policy

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "iac" / "data"


def test_scan_aws_record_opens_then_resolves(
    aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    client = kms(aws_env, "us-east-1")
    public = create_key(client, public_policy(OWN), alias="alias/open")
    create_key(client, root_policy(OWN), owner=None)
    create_key(client, root_policy(OWN))
    code, _, err = run(capsys, "scan", "aws", "--region", "us-east-1", "--record", "--db", db)
    assert code == 3
    assert "2 opened" in err  # the public policy and the missing owner tag
    client.put_key_policy(KeyId=public, PolicyName="default", Policy=json.dumps(root_policy(OWN)))
    code, _, err = run(capsys, "scan", "aws", "--region", "us-east-1", "--record", "--db", db)
    assert "1 resolved" in err
    history = History(open_database(db))
    resolved = history.findings(FindingStatus.RESOLVED)
    assert [f.subject for f in resolved] == [key_arn(OWN, "us-east-1", public)]
    assert resolved[0].resolved_by_run == history.runs()[-1].id

    code, out, _ = run(capsys, "report", "--db", db, "--format", "json")
    assert code == 0
    report = json.loads(out)
    kpis = report["kpis"]
    assert kpis["public_keys"]["now"] == 0
    assert [p["public"] for p in kpis["public_keys"]["trend"]] == [1, 0]
    assert kpis["mttr_critical_hours"]["resolved"] == 1
    assert kpis["owner_tag_share"]["with_owner"] == 2
    assert kpis["owner_tag_share"]["customer_keys"] == 3
    assert list(report["keys_without_owner"]) == [OWN]


def test_scan_iac_record_counts_blocked_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    template = DATA / "cfn" / "public.yaml"
    code, _, err = run(capsys, "scan", "iac", str(template), "--account", "111122223333",
                       "--fail-on", "high", "--record", "--db", db)
    assert code == 3
    assert "blocked before deployment" in err
    code, out, _ = run(capsys, "report", "--db", db, "--format", "json")
    blocked = json.loads(out)["kpis"]["blocked_before_deployment"]
    assert blocked["misconfigurations"] >= 1
    assert blocked["gate_failures"] == blocked["misconfigurations"]
    # the same template blocked again: one misconfiguration, two gate failures
    run(capsys, "scan", "iac", str(template), "--account", "111122223333",
        "--fail-on", "high", "--record", "--db", db)
    code, out, _ = run(capsys, "report", "--db", db, "--format", "json")
    again = json.loads(out)["kpis"]["blocked_before_deployment"]
    assert again["misconfigurations"] == blocked["misconfigurations"]
    assert again["gate_failures"] == 2 * blocked["gate_failures"]
