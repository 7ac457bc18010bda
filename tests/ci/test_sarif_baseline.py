"""SARIF that code scanning can track (the same URIs and fingerprints from any working
directory, valid against the 2.1.0 schema and GitHub's rules), and baselines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kmsguard.aws.result import KeyResult, ScanResult
from kmsguard.model import Assessment, Exposure, ExposureKind, Severity, Verdict
from kmsguard.report.sarif import render_sarif

from .conftest import SCHEMA


def github_problems(log: dict[str, Any]) -> list[str]:
    """GitHub's documented requirements for uploaded SARIF (docs.github.com, "SARIF support
    for code scanning"), beyond the schema: version 2.1.0, a driver name, every result with
    a ruleId that the driver's rules define, a message text, at most one location whose
    artifact URI is relative to the repository (or absolute), a startLine, string
    partialFingerprints, and security-severity as a number in a string."""
    found: list[str] = []
    if log.get("version") != "2.1.0":
        found.append("version")
    for run in log["runs"]:
        driver = run["tool"]["driver"]
        if not driver.get("name"):
            found.append("driver name")
        rule_ids = [r["id"] for r in driver.get("rules", [])]
        for r in driver.get("rules", []):
            sev = r.get("properties", {}).get("security-severity")
            if sev is not None and not re.fullmatch(r"\d+(\.\d+)?", sev):
                found.append(f"security-severity of {r['id']}")
        for i, res in enumerate(run["results"]):
            if res.get("ruleId") not in rule_ids:
                found.append(f"result {i}: ruleId")
            if not res.get("message", {}).get("text"):
                found.append(f"result {i}: message")
            if len(res.get("locations", [])) > 1:
                found.append(f"result {i}: more than one location")
            for loc in res.get("locations", []):
                phys = loc.get("physicalLocation")
                if phys is None:
                    continue
                uri = phys["artifactLocation"]["uri"]
                if uri.startswith("/") or (":" in uri and not uri.startswith("file://")):
                    found.append(f"result {i}: uri {uri}")
                if phys.get("region", {}).get("startLine", 0) < 1:
                    found.append(f"result {i}: startLine")
            if not all(isinstance(v, str) for v in res.get("partialFingerprints", {}).values()):
                found.append(f"result {i}: partialFingerprints")
    return found


def _validate(log: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    assert github_problems(log) == []


def _sarif(kmsguard: Any, out: Path, *args: str | Path) -> dict[str, Any]:
    run = kmsguard("scan", "iac", *args, "--format", "sarif", "-o", out)
    assert run.code == 3, run.err
    log: dict[str, Any] = json.loads(out.read_text())
    _validate(log)
    return log


def _identities(log: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            json.dumps(r["partialFingerprints"]),
        )
        for r in log["runs"][0]["results"]
    )


def test_same_uris_and_fingerprints_from_three_working_directories(
    kmsguard: Any, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    at_root = _sarif(kmsguard, tmp_path / "a.sarif", "infra")
    monkeypatch.chdir(repo / "infra" / "cfn")
    in_subfolder = _sarif(kmsguard, tmp_path / "b.sarif", "..")
    monkeypatch.chdir(tmp_path)  # outside the repository, an absolute path
    outside = _sarif(kmsguard, tmp_path / "c.sarif", (repo / "infra").resolve())
    ids = _identities(at_root)
    assert len(ids) >= 3
    assert ids == _identities(in_subfolder) == _identities(outside)
    uris = {i[1] for i in ids}
    assert "infra/cfn/public.yaml" in uris
    assert {i[2] for i in ids} == {"%SRCROOT%"}


def test_fingerprints_ignore_the_scan_root_and_lines(
    kmsguard: Any, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    whole = _sarif(kmsguard, tmp_path / "a.sarif", ".")
    one = _sarif(kmsguard, tmp_path / "b.sarif", "infra/cfn/public.yaml")
    [public] = one["runs"][0]["results"]
    same = [
        r
        for r in whole["runs"][0]["results"]
        if r["partialFingerprints"] == public["partialFingerprints"]
    ]
    assert len(same) == 1
    template = repo / "infra" / "cfn" / "public.yaml"
    template.write_text("# a comment moves every line\n" + template.read_text())
    moved = _sarif(kmsguard, tmp_path / "c.sarif", "infra/cfn/public.yaml")
    [again] = moved["runs"][0]["results"]
    assert again["partialFingerprints"] == public["partialFingerprints"]
    assert again["locations"][0]["physicalLocation"]["region"]["startLine"] == (
        public["locations"][0]["physicalLocation"]["region"]["startLine"] + 1
    )


def test_base_dir_names_the_root(
    kmsguard: Any, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    log = _sarif(kmsguard, tmp_path / "a.sarif", "infra", "--base-dir", "infra")
    uris = {i[1] for i in _identities(log)}
    assert "cfn/public.yaml" in uris


def test_live_keys_have_a_logical_location_with_arn_account_and_region() -> None:
    exposure = Exposure(
        kind=ExposureKind.PUBLIC,
        severity=Severity.CRITICAL,
        actions=("kms:Decrypt",),
        principals=("*",),
        statements=("Open",),
        witness=None,
    )
    keys = tuple(
        KeyResult(
            arn=f"arn:aws:kms:{region}:111122223333:key/k-{region}",
            key_id=f"k-{region}",
            account="111122223333",
            region=region,
            state="Enabled",
            aliases=("alias/public",),
            assessment=Assessment(Verdict.PUBLIC, Severity.CRITICAL, exposures=(exposure,)),
            owner_tag=True,
        )
        for region in ("eu-west-1", "us-east-1")
    )
    log = json.loads(render_sarif(ScanResult(keys=keys).findings()))
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    results = log["runs"][0]["results"]
    assert len(results) == 2
    logical = [r["locations"][0]["logicalLocations"][0] for r in results]
    assert {x["fullyQualifiedName"] for x in logical} == {k.arn for k in keys}
    assert {x["properties"]["region"] for x in logical} == {"eu-west-1", "us-east-1"}
    assert all(x["properties"]["account"] == "111122223333" for x in logical)
    for r, key in zip(results, keys, strict=True):
        assert r["message"]["text"].startswith(key.arn)
    assert len({json.dumps(r["partialFingerprints"]) for r in results}) == 2


def test_baseline_round_trip(
    kmsguard: Any, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    baseline = repo / ".kmsguard-baseline.json"
    written = kmsguard("scan", "iac", "infra", "--write-baseline", baseline)
    assert written.code == 0, written.out
    assert "baseline" in written.err
    doc = json.loads(baseline.read_text())
    assert {e["file"] for e in doc["findings"]} >= {"infra/cfn/public.yaml"}

    # accepted from another working directory and scan root: reported, not failing
    monkeypatch.chdir(repo / "infra")
    run = kmsguard("scan", "iac", "cfn", "--baseline", baseline, "--format", "json")
    assert run.code == 0
    assert all(f["suppressed"] for f in run.json() if f["rule_id"])
    text = kmsguard("scan", "iac", "cfn", "--baseline", baseline)
    assert "accepted in baseline" in text.out

    # a new finding fails the gate; the accepted ones stay accepted
    new = repo / "infra" / "cfn" / "new.yaml"
    new.write_text((repo / "infra" / "cfn" / "public.yaml").read_text())
    run = kmsguard("scan", "iac", "cfn", "--baseline", baseline, "--format", "json")
    assert run.code == 3
    active = [f for f in run.json() if f["rule_id"] and not f["suppressed"]]
    assert [f["file"] for f in active] == ["cfn/new.yaml"]
    sarif = _sarif(kmsguard, tmp_path / "b.sarif", "cfn", "--baseline", baseline)
    kinds = [
        r.get("suppressions", [{}])[0].get("kind") for r in sarif["runs"][0]["results"]
    ]
    assert kinds.count("external") == len(kinds) - 1


def test_a_finding_that_got_worse_is_new(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    baseline = repo / "b.json"
    kmsguard("scan", "iac", "infra/cfn/partner.yaml", "--write-baseline", baseline)
    doc = json.loads(baseline.read_text())
    for e in doc["findings"]:
        e["severity"] = "low"  # accepted when it was only low
    baseline.write_text(json.dumps(doc))
    assert kmsguard("scan", "iac", "infra/cfn/partner.yaml", "--baseline", baseline).code == 3


def test_bad_baselines_are_input_errors(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    missing = kmsguard("scan", "iac", "infra", "--baseline", "nope.json")
    assert missing.code == 2
    assert "nope.json" in missing.err
    (repo / "bad.json").write_text("[]")
    bad = kmsguard("scan", "iac", "infra", "--baseline", "bad.json")
    assert bad.code == 2
    assert "not a kmsguard baseline" in bad.err


def test_no_inline_suppressions_for_audits(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    template = repo / "infra" / "cfn" / "public.yaml"
    lines = template.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("OpenKey:"))
    lines.insert(start, "  # kmsguard:ignore KMS001 demo key, public on purpose")
    template.write_text("\n".join(lines) + "\n")
    assert kmsguard("scan", "iac", template).code == 0
    audit = kmsguard("scan", "iac", template, "--no-inline-suppressions")
    assert audit.code == 3
    assert "suppressed" not in audit.out.splitlines()[0]
