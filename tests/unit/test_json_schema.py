"""Every JSON output has one versioned shape, checked against the JSON Schema shipped in the
package (`kmsguard/report/schema.json`, documented in docs/json.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kmsguard.aws.keys import KeyRef, RawKey
from kmsguard.aws.result import ReadError, ScanResult, ScopeFailure
from kmsguard.aws.scan import PolicyJudge, judge_key
from kmsguard.demo import make_cloudtrail
from kmsguard.model import TrustZone
from kmsguard.report.json_report import scan_to_json
from kmsguard.usage import analyze_usage

TESTS = Path(__file__).resolve().parents[1]
A = "111122223333"
ZONE = ["--account", "123456789012", "--org-id", "o-exampleorgid"]


def schema() -> dict[str, Any]:
    text = resources.files("kmsguard").joinpath("report/schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(doc: Any, kind: str) -> None:
    full = schema()
    jsonschema.Draft202012Validator.check_schema(full)
    sub = {"$ref": f"#/$defs/{kind}", "$defs": full["$defs"]}
    jsonschema.Draft202012Validator(sub).validate(doc)


def run(*args: str) -> Any:
    p = subprocess.run(
        [sys.executable, "-m", "kmsguard", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert p.returncode in (0, 2, 3, 4), p.stderr
    return json.loads(p.stdout)


def test_check_output() -> None:
    corpus = TESTS / "corpus" / "key-policies"
    rows = run(
        "check", *ZONE, "--format", "json", str(corpus / "untrusted"), str(corpus / "invalid")
    )
    assert {r["verdict"] for r in rows} >= {"public", "error"}
    validate(rows, "findings")


def test_scan_iac_output() -> None:
    rows = run("scan", "iac", "--format", "json", "--account", A, str(TESTS / "iac" / "data"))
    assert len({r["source"] for r in rows}) > 5
    validate(rows, "findings")


def _key(name: str, policy: str | None, errors: tuple[ReadError, ...] = ()) -> RawKey:
    arn = f"arn:aws:kms:eu-west-1:{A}:key/{name}"
    grants = ({"GrantId": "g1", "GranteePrincipal": "arn:aws:iam::444455556666:root",
               "Operations": ["Decrypt"]},)
    return RawKey(KeyRef(name, arn, ("alias/" + name,)),
                  {"KeyState": "Enabled", "KeyManager": "CUSTOMER"}, policy, grants, (), errors)


def test_scan_aws_output() -> None:
    public = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]})
    zone = TrustZone(account=A)
    judge = PolicyJudge()
    keys = tuple(
        judge_key(raw, A, "eu-west-1", zone=zone, judge=judge, owner_keys=("owner",))
        for raw in (
            _key("public", public),
            _key("malformed", "{not json"),
            _key("denied", None, (ReadError("GetKeyPolicy", "AccessDenied", "no"),)),
        )
    )
    result = ScanResult(
        keys=keys,
        failures=(
            ScopeFailure("444455556666", None, ReadError("AssumeRole", "AccessDenied", "x")),
        ),
        accounts=(A,),
    )
    doc = scan_to_json(result)
    assert {f["rule_id"] for k in doc["keys"] for f in k["findings"]} >= {
        "KMS001", "KMS004", "KMS005", "KMS007"
    }
    validate(doc, "scan_aws")


def test_usage_report_output() -> None:
    logs = Path(make_cloudtrail.__file__).resolve().parent / "cloudtrail"
    report = analyze_usage([logs], zone=TrustZone(account=make_cloudtrail.OWNER))
    validate(report.to_dict(), "usage_report")


def test_the_schema_rejects_a_wrong_shape() -> None:
    row = run("check", *ZONE, "--format", "json",
              str(TESTS / "corpus" / "key-policies" / "untrusted"))[0]
    validate([row], "findings")
    for broken in ({**row, "schema_version": 2}, {k: v for k, v in row.items() if k != "rule_id"},
                   {**row, "verdict": "fine"}):
        with pytest.raises(jsonschema.ValidationError):
            validate([broken], "findings")
