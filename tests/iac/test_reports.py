"""SARIF (validated against the official 2.1.0 schema) and JUnit output."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema

from kmsguard.model import Assessment, Finding, Origin, Severity, Verdict
from kmsguard.report.junit import render_junit
from kmsguard.report.sarif import render_sarif

from .conftest import DATA, SCHEMA


def _validate(log: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(log)


def test_sarif_of_the_fixture_tree_is_valid(kmsguard: Any, tmp_path: Path) -> None:
    out = tmp_path / "kmsguard.sarif"
    run = kmsguard("scan", "iac", DATA, "--format", "sarif", "--output", out)
    assert run.code == 3
    log = json.loads(out.read_text())
    _validate(log)
    (sarif_run,) = log["runs"]
    rules = {r["id"]: r for r in sarif_run["tool"]["driver"]["rules"]}
    assert {"KMS001", "KMS002", "KMS004", "KMS006"} <= set(rules)
    assert "Fix:" in rules["KMS001"]["help"]["text"]
    results = sarif_run["results"]
    by_loc = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].split("/data/")[-1],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        ): r
        for r in results
    }
    r = by_loc[("cfn/public.yaml", 6)]
    assert r["ruleId"] == "KMS001"
    assert r["level"] == "error"
    assert rules[r["ruleId"]] == sarif_run["tool"]["driver"]["rules"][r["ruleIndex"]]
    assert r["locations"][0]["logicalLocations"][0]["name"] == "OpenKey"
    assert "kms:Decrypt" in r["message"]["text"]
    # private keys are not results; suppressed ones are, marked as suppressed
    assert not any(x["ruleId"] is None for x in results)
    suppressed = by_loc[("tf/conditional/main.tf", 15)]
    assert suppressed["suppressions"][0]["kind"] == "inSource"


def test_sarif_for_live_findings_without_files() -> None:
    f = Finding(
        origin=Origin("arn:aws:kms:us-east-1:123456789012:key/abc", account="123456789012"),
        rule_id="KMS007",
        assessment=Assessment(Verdict.ERROR, Severity.NONE, errors=("access denied",)),
    )
    log = json.loads(render_sarif([f]))
    _validate(log)
    loc = log["runs"][0]["results"][0]["locations"][0]
    assert "physicalLocation" not in loc
    assert loc["logicalLocations"][0]["fullyQualifiedName"].startswith("arn:aws:kms:")


def test_empty_sarif_is_valid() -> None:
    _validate(json.loads(render_sarif([])))


def test_junit(kmsguard: Any, tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    kmsguard("scan", "iac", DATA, "--format", "junit", "-o", out)
    root = ET.fromstring(out.read_text())
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases) > 20
    by_name = {c.get("name"): c for c in cases}
    public = next(c for n, c in by_name.items() if n and n.startswith("OpenKey "))
    failure = public.find("failure")
    assert failure is not None
    assert "KMS001" in failure.get("message", "")
    assert public.get("line") == "6"
    unresolved = next(
        c for n, c in by_name.items() if n and n.startswith("aws_kms_key.from_module ")
    )
    assert unresolved.find("error") is not None
    safe = next(c for n, c in by_name.items() if n and n.startswith("SafeKey "))
    assert safe.find("failure") is None
    assert safe.find("error") is None
    assert int(suite.get("skipped", "0")) == 1
    assert int(suite.get("failures", "0")) == len(suite.findall("testcase/failure"))


def test_junit_threshold() -> None:
    f = Finding(
        origin=Origin("a.tf", 3, "aws_kms_key.k"),
        rule_id="KMS003",
        assessment=Assessment(Verdict.PRIVATE, Severity.LOW),
    )
    assert "<failure" in render_junit([f], fail_on=Severity.LOW)
    assert "<failure" not in render_junit([f], fail_on=Severity.HIGH)
