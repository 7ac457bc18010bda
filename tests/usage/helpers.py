"""Compare a report with the generator's ground truth."""

from __future__ import annotations

from typing import Any

from kmsguard.usage import UsageReport

FIELDS = (
    "principal_type", "account", "actions", "denied", "errors", "via_services",
    "vpc_endpoints", "encryption_context", "first_seen", "last_seen",
)


def observed(report: UsageReport) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for k in report.keys:
        for c in k.callers:
            j = c.to_json()
            out.setdefault(k.key_arn, {})[c.principal] = {f: j[f] for f in FIELDS}
    return out


def comparable(report: UsageReport) -> dict[str, Any]:
    d = report.to_dict()
    d.pop("engine")
    return d
