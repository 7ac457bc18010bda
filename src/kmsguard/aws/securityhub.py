"""Import findings into AWS Security Hub with `BatchImportFindings` (`scan aws
--security-hub`): at most 100 per call, each in the Region its `ProductArn` names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

BATCH_LIMIT = 100


@dataclass
class ImportResult:
    imported: int = 0
    failed: list[str] = field(default_factory=list)  # "Id: code message"


def import_findings(clients: Any, findings: Sequence[dict[str, Any]]) -> ImportResult:
    """`clients` is an `aws.session.SessionClients` (anything with `.client(name, region)`)."""
    by_region: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
        by_region[str(f.get("Region") or "us-east-1")].append(f)
    out = ImportResult()
    for region, group in sorted(by_region.items()):
        hub = clients.client("securityhub", region)
        for i in range(0, len(group), BATCH_LIMIT):
            response = hub.batch_import_findings(Findings=group[i : i + BATCH_LIMIT])
            out.imported += int(response.get("SuccessCount", 0))
            for failed in response.get("FailedFindings", []):
                out.failed.append(
                    f"{failed.get('Id')}: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}"
                )
    return out
