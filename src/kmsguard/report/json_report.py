"""JSON for machines: one object per finding, the same shape from every source."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kmsguard.model import Finding


def finding_to_json(f: Finding) -> dict[str, Any]:
    o = f.origin
    out: dict[str, Any] = {"source": o.source}
    if o.line is not None:
        out["line"] = o.line
    if o.resource is not None:
        out["resource"] = o.resource
    if o.account is not None:
        out["account"] = o.account
    if o.region is not None:
        out["region"] = o.region
    out["rule_id"] = f.rule_id
    out.update(f.assessment.to_json())
    out["exposed_actions"] = list(f.assessment.exposed_actions)
    if f.suppressed is not None:
        out["suppressed"] = f.suppressed
    return out


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([finding_to_json(f) for f in findings], indent=2)
