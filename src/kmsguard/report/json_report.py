"""JSON for machines: one versioned shape per result kind (see docs/json.md and the JSON
Schema shipped as `kmsguard/report/schema.json`).

- a **finding** (one judgement of one subject: a policy file, an IaC resource, a key's
  policy, grant or tags) has the same shape from every source;
- `check` and `scan iac` write a list of findings;
- `scan aws` writes one object: the summary, one object per key (with its findings and read
  errors), skipped keys and the accounts or regions that could not be read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec

from kmsguard import rules
from kmsguard.aws.result import KeyResult, ScanResult
from kmsguard.model import Finding

#: Bumped when a field changes meaning or disappears (new fields do not bump it).
SCHEMA_VERSION = 1


def pretty_json(obj: Any) -> str:
    """`json.dumps(obj, indent=2)` at C speed (a scan's report is megabytes; the
    pure-Python indenting encoder was a tenth of `check`'s time): the same text, but for a
    float's exponent (`1e16` for `1e+16`, the same number). Text that
    is not plain ASCII — which `json` writes as `\\uXXXX` escapes that survive any terminal
    or pipe, lone surrogates from hostile input included — goes through `json` itself."""
    try:
        text = msgspec.json.format(msgspec.json.encode(obj), indent=2).decode()
    except (UnicodeEncodeError, msgspec.EncodeError, TypeError):
        return json.dumps(obj, indent=2)
    # DEL (0x7f) is ASCII, but `json` escapes it (`\u007f`) and msgspec does not
    return text if text.isascii() and "\x7f" not in text else json.dumps(obj, indent=2)


def finding_to_json(f: Finding) -> dict[str, Any]:
    o = f.origin
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "source": o.source,
        "file": o.source,  # the same as `source`; kept for `scan iac` consumers
        "line": o.line,
        "resource": o.resource,
        "account": o.account,
        "region": o.region,
        "rule_id": f.rule_id,
        "title": rules.rule(f.rule_id).title if f.rule_id else None,
    }
    out.update(f.assessment.to_json())
    out["undecided"] = f.assessment.undecided
    out["exposed_actions"] = list(f.assessment.exposed_actions)
    out["suppressed"] = f.suppressed
    out["details"] = dict(f.extra)
    return out


def render_json(findings: Sequence[Finding]) -> str:
    """`check` and `scan iac`: the list of findings."""
    return pretty_json([finding_to_json(f) for f in findings])


def key_to_json(key: KeyResult) -> dict[str, Any]:
    return {**key.to_json(), "findings": [finding_to_json(f) for f in key.findings()]}


def scan_to_json(result: ScanResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "summary": result.summary(),
        "keys": [key_to_json(k) for k in result.judged],
        "skipped_keys": [k.skipped_json() for k in result.skipped],
        "failures": [f.to_json() for f in result.failures],
    }


def render_scan_json(result: ScanResult) -> str:
    """`scan aws`: one object for the whole scan."""
    return pretty_json(scan_to_json(result))
