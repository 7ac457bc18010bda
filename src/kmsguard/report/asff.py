"""AWS Security Finding Format (ASFF) for Security Hub `BatchImportFindings`: one finding
per (key, rule), as a JSON list that `aws securityhub batch-import-findings --findings
file://...` accepts (at most 100 per call: see `batches`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from kmsguard import rules
from kmsguard.arn import partition_of
from kmsguard.aws.result import KeyResult, ScanResult
from kmsguard.model import Finding, Severity

SCHEMA_VERSION = "2018-10-08"
BATCH_LIMIT = 100  # BatchImportFindings accepts 1..100 findings per call

#: Every field BatchImportFindings requires, with its ASFF length limit (None: no limit).
REQUIRED_FIELDS: dict[str, int | None] = {
    "SchemaVersion": None,
    "Id": 512,
    "ProductArn": 512,
    "GeneratorId": 512,
    "AwsAccountId": 12,
    "CreatedAt": None,
    "UpdatedAt": None,
    "Title": 256,
    "Description": 1024,
    "Resources": None,
}

_SEVERITY_LABEL = {
    Severity.CRITICAL: "CRITICAL",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MEDIUM",
    Severity.LOW: "LOW",
    Severity.INFO: "INFORMATIONAL",
    Severity.NONE: "INFORMATIONAL",
}

_TYPES = {
    rules.PUBLIC_POLICY: [
        "Effects/Data Exposure",
        "Software and Configuration Checks/AWS Security Best Practices",
    ],
    rules.CROSS_ACCOUNT_POLICY: [
        "Effects/Data Exposure",
        "Software and Configuration Checks/AWS Security Best Practices",
    ],
    rules.EXTERNAL_GRANT: [
        "Effects/Data Exposure",
        "Software and Configuration Checks/AWS Security Best Practices",
    ],
    rules.CONFUSED_DEPUTY: ["Software and Configuration Checks/AWS Security Best Practices"],
    rules.MISSING_OWNER_TAG: ["Software and Configuration Checks/AWS Security Best Practices"],
    rules.UNREADABLE: ["Software and Configuration Checks/AWS Security Best Practices"],
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _description(finding: Finding, key: KeyResult) -> str:
    a = finding.assessment
    parts: list[str] = []
    for exposure in a.exposures:
        who = ", ".join(exposure.principals) or "outside principals"
        what = ", ".join(exposure.actions)
        line = f"{who} can be allowed {what}"
        if exposure.statements:
            line += f" (statements {', '.join(exposure.statements)})"
        if exposure.witness is not None:
            line += f"; e.g. {exposure.witness.describe()}"
        parts.append(line)
    parts.extend(a.errors)
    if finding.rule_id == rules.MISSING_OWNER_TAG:
        parts.append("no owner tag with a non-empty value")
    if key.state and key.state != "Enabled":
        parts.append(f"key state {key.state}")
    text = "; ".join(parts) or rules.rule(finding.rule_id or rules.UNREADABLE).description
    return _clip(text, REQUIRED_FIELDS["Description"] or 1024)


def _finding_id(finding: Finding) -> str:
    suffix = "/".join(v for k, v in finding.extra if k == "grant_id")
    return finding_id(finding.origin.source, finding.rule_id or rules.UNREADABLE, suffix or None)


def finding_id(key_arn: str, rule_id: str, grant_id: str | None = None) -> str:
    """The ASFF `Id` of a key's finding: the same in every scan, so that Security Hub
    updates one finding (and can resolve it) instead of adding another."""
    raw = f"{key_arn}/{rule_id}" + (f"/{grant_id}" if grant_id else "")
    if len(raw) <= 512:
        return raw
    return f"{key_arn[:400]}/{hashlib.sha256(raw.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True)
class FixedFinding:
    """A finding an earlier scan reported that is known to be fixed now."""

    key_arn: str
    account: str
    region: str
    rule_id: str
    grant_id: str | None = None
    fixed_at: datetime | None = None


class KnownFixed(Protocol):
    """Which findings are known fixed — the history store (`--db`) answers this from the
    scans it recorded; kmsguard asks it for the accounts and regions of `result`."""

    def known_fixed(self, result: ScanResult) -> Iterable[FixedFinding]: ...


def resolved_findings(
    result: ScanResult, known: KnownFixed, *, now: str
) -> list[dict[str, Any]]:
    """ASFF records that close fixed findings: `RecordState` ARCHIVED, `Workflow` RESOLVED,
    `Compliance` PASSED, with the Id the finding had. Only for keys of accounts and regions
    this scan read, and never for a finding this scan still reports."""
    failed = {(f.account, f.region) for f in result.failures}
    current = {_finding_id(f) for f in result.findings()}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for fixed in known.known_fixed(result):
        fid = finding_id(fixed.key_arn, fixed.rule_id, fixed.grant_id)
        scope_failed = (fixed.account, fixed.region) in failed or (fixed.account, None) in failed
        if fid in current or fid in seen or scope_failed:
            continue
        seen.add(fid)
        rule = rules.rule(fixed.rule_id)
        partition = partition_of(fixed.key_arn)
        when = (fixed.fixed_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        out.append(
            {
                "SchemaVersion": SCHEMA_VERSION,
                "Id": fid,
                "ProductArn": (
                    f"arn:{partition}:securityhub:{fixed.region}:{fixed.account}:"
                    f"product/{fixed.account}/default"
                ),
                "ProductName": "kmsguard",
                "CompanyName": "kmsguard",
                "GeneratorId": f"kmsguard/{fixed.rule_id}",
                "AwsAccountId": fixed.account,
                "Region": fixed.region,
                "Types": _TYPES.get(fixed.rule_id, _TYPES[rules.UNREADABLE]),
                "CreatedAt": when,
                "UpdatedAt": now,
                "Severity": {"Label": "INFORMATIONAL", "Original": "resolved"},
                "Title": _clip(f"{fixed.rule_id} {rule.title} (resolved)", 256),
                "Description": _clip(f"Fixed: no longer found on {fixed.key_arn}.", 1024),
                "ProductFields": {"kmsguard/RuleId": fixed.rule_id, "kmsguard/Verdict": "fixed"},
                "Resources": [
                    {
                        "Type": "AwsKmsKey",
                        "Id": fixed.key_arn,
                        "Partition": partition,
                        "Region": fixed.region,
                    }
                ],
                "Compliance": {"Status": "PASSED"},
                "RecordState": "ARCHIVED",
                "Workflow": {"Status": "RESOLVED"},
            }
        )
    return out


def to_asff(finding: Finding, key: KeyResult, *, now: str) -> dict[str, Any]:
    rule_id = finding.rule_id or rules.UNREADABLE
    rule = rules.rule(rule_id)
    partition = partition_of(key.arn)
    details: dict[str, Any] = {"KeyId": key.key_id, "AWSAccountId": key.account}
    if key.state:
        details["KeyState"] = key.state
    if key.manager:
        details["KeyManager"] = key.manager
    product_fields = {
        "kmsguard/RuleId": rule_id,
        "kmsguard/Verdict": str(finding.verdict),
    }
    if key.aliases:
        product_fields["kmsguard/Aliases"] = " ".join(key.aliases)
    for k, v in finding.extra:
        product_fields[f"kmsguard/{k}"] = v
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": _finding_id(finding),
        "ProductArn": (
            f"arn:{partition}:securityhub:{key.region}:{key.account}:product/{key.account}/default"
        ),
        "ProductName": "kmsguard",
        "CompanyName": "kmsguard",
        "GeneratorId": f"kmsguard/{rule_id}",
        "AwsAccountId": key.account,
        "Region": key.region,
        "Types": _TYPES.get(rule_id, _TYPES[rules.UNREADABLE]),
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": _SEVERITY_LABEL[finding.severity], "Original": str(finding.severity)},
        "Title": _clip(f"{rule_id} {rule.title}", 256),
        "Description": _description(finding, key),
        "Remediation": {"Recommendation": {"Text": _clip(rule.remediation, 512)}},
        "ProductFields": product_fields,
        "Resources": [
            {
                "Type": "AwsKmsKey",
                "Id": key.arn,
                "Partition": partition,
                "Region": key.region,
                "Details": {"AwsKmsKey": details},
            }
        ],
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
    }


def asff_findings(
    result: ScanResult, *, now: datetime | None = None, fixed: KnownFixed | None = None
) -> list[dict[str, Any]]:
    """Active findings, then (with `fixed`) the records that resolve fixed ones."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    active = [to_asff(f, key, now=stamp) for key in result.keys for f in key.findings()]
    if fixed is None:
        return active
    return active + resolved_findings(result, fixed, now=stamp)


def problems(finding: dict[str, Any]) -> list[str]:
    """What keeps a finding out of Security Hub: missing required fields, over-long
    values, an empty Resources list. Empty means importable."""
    found: list[str] = []
    for name, limit in REQUIRED_FIELDS.items():
        value = finding.get(name)
        if value in (None, "", []):
            found.append(f"`{name}` is missing")
        elif limit is not None and isinstance(value, str) and len(value) > limit:
            found.append(f"`{name}` is longer than {limit} characters")
    for i, res in enumerate(finding.get("Resources") or []):
        for name in ("Type", "Id"):
            if not res.get(name):
                found.append(f"`Resources[{i}].{name}` is missing")
    return found


def batches(findings: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(findings), BATCH_LIMIT):
        yield list(findings[i : i + BATCH_LIMIT])


def render_asff(
    result: ScanResult, *, now: datetime | None = None, fixed: KnownFixed | None = None
) -> str:
    return json.dumps(asff_findings(result, now=now, fixed=fixed), indent=2)
