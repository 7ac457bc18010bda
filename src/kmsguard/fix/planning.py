"""A plan as offered to the user: the planner's replacement, the verifier's judgement, the
diff, and everything `apply` needs later (saved as JSON with `--format json`)."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kmsguard.errors import InputError, KmsguardError, PolicyParseError
from kmsguard.model import TrustZone, Verdict
from kmsguard.policy import analyze_policy
from kmsguard.policy.remediation import (
    ObservedCaller,
    ObservedRequest,
    RemediationPlan,
    ReplayOutcome,
    Strategy,
    Verification,
    plan_remediation,
    verify,
)
from kmsguard.policy.remediation.plan import pretty
from kmsguard.policy.remediation.plan_support import policy_document

PLAN_FORMAT = 1


class PlanRefusedError(KmsguardError):
    """No replacement policy passed verification: nothing is offered."""

    exit_code = InputError.exit_code


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_sha256(text: str) -> str | None:
    """Hash of the policy's JSON with key order and whitespace normalized (None if not JSON)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return sha256_text(json.dumps(doc, sort_keys=True, separators=(",", ":")))


def with_owner_org(
    callers: tuple[ObservedCaller, ...], key_account: str, org_id: str | None
) -> tuple[ObservedCaller, ...]:
    """The key's own account belongs to the owner's organization: say so for its callers
    (CloudTrail does not record aws:PrincipalOrgID)."""
    if not org_id:
        return callers
    return tuple(
        replace(c, org_id=org_id)
        if c.org_id is None and c.account == key_account and not c.is_service
        else c
        for c in callers
    )


def policy_diff(old_text: str, new_text: str, label: str) -> str:
    """Unified diff of two policies, both pretty-printed (so formatting alone never shows)."""

    def shown(text: str) -> str:
        try:
            return pretty(policy_document(text))
        except PolicyParseError:
            return text

    lines = difflib.unified_diff(
        (shown(old_text) + "\n").splitlines(keepends=True),
        (shown(new_text) + "\n").splitlines(keepends=True),
        fromfile=f"{label} (current)",
        tofile=f"{label} (planned)",
    )
    return "".join(lines)


@dataclass(frozen=True, slots=True)
class Offer:
    """One planned and verified fix for one key policy."""

    source: str  # the policy file or the key ARN it was read from
    key_arn: str | None
    key_account: str
    zone: TrustZone
    old_policy: str  # exactly as read
    plan: RemediationPlan
    verification: Verification
    callers: tuple[ObservedCaller, ...]
    verdict_before: Verdict
    org_id: str | None = None
    window: tuple[tuple[str, str], ...] = ()
    #: where the usage came from, its window, event counts and warnings (UsageEvidence.to_json)
    evidence: Mapping[str, object] = field(default_factory=dict)

    @property
    def offered(self) -> bool:
        return self.plan.changed and self.verification.ok

    @property
    def old_policy_sha256(self) -> str:
        return sha256_text(self.old_policy)

    def diff(self) -> str:
        return policy_diff(self.old_policy, self.plan.new_policy, self.source)

    def replay_json(self) -> dict[str, object]:
        v = self.verification
        return {
            "kept_calls": v.calls(ReplayOutcome.KEPT),
            "dropped_calls": v.calls(ReplayOutcome.DROPPED),
            "broken_calls": v.calls(ReplayOutcome.BROKEN),
            "external_still_allowed_calls": v.calls(ReplayOutcome.EXTERNAL_STILL_ALLOWED),
            "not_from_key_policy_calls": v.calls(ReplayOutcome.NOT_FROM_KEY_POLICY),
            "kept": [r.to_json() for r in v.replay if r.outcome is ReplayOutcome.KEPT],
            "dropped": [r.to_json() for r in v.replay if r.outcome is ReplayOutcome.DROPPED],
            "other": [
                r.to_json()
                for r in v.replay
                if r.outcome not in (ReplayOutcome.KEPT, ReplayOutcome.DROPPED)
            ],
        }

    def saved(self) -> SavedPlan:
        """The plan as `apply` uses it (what `load_plan` reads back from `to_json`)."""
        return SavedPlan(
            key_arn=self.key_arn,
            key_account=self.key_account,
            zone=self.zone,
            strategy=self.plan.strategy,
            keep_external=frozenset(self.plan.kept_external),
            old_policy_sha256=self.old_policy_sha256,
            old_policy_canonical_sha256=canonical_sha256(self.old_policy),
            new_policy=self.plan.new_policy,
            callers=self.callers,
            offered=self.offered,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "kmsguard_plan": PLAN_FORMAT,
            "offered": self.offered,
            "source": self.source,
            "key_arn": self.key_arn,
            "key_account": self.key_account,
            "zone": {
                "account": self.zone.account,
                "trusted_accounts": sorted(self.zone.trusted_accounts),
                "trusted_orgs": sorted(self.zone.trusted_orgs),
                "trusted_org_paths": sorted(self.zone.trusted_org_paths),
            },
            "org_id": self.org_id,
            "strategy": str(self.plan.strategy),
            "keep_external": list(self.plan.kept_external),
            "verdict_before": str(self.verdict_before),
            "verdict_after": str(self.verification.verdict_after),
            "old_policy_sha256": self.old_policy_sha256,
            "old_policy_canonical_sha256": canonical_sha256(self.old_policy),
            "old_policy": self.old_policy,
            "new_policy": json.loads(self.plan.new_policy),
            "new_policy_sha256": sha256_text(self.plan.new_policy),
            "diff": self.diff(),
            "changes": [c.to_json() for c in self.plan.changes],
            "would_lose_access": [x.to_json() for x in self.plan.would_lose_access],
            "replay": self.replay_json(),
            "lockout_ok": self.verification.lockout_ok,
            "verification": self.verification.to_json(),
            "notes": list(self.plan.notes),
            "usage_window": dict(self.window),
            "usage_evidence": dict(self.evidence),
            "evidence": [c.to_json() for c in self.callers],
        }


def make_offer(
    old_policy: str,
    callers: tuple[ObservedCaller, ...],
    zone: TrustZone,
    *,
    key_account: str,
    strategy: Strategy = Strategy.PRINCIPALS,
    keep_external: frozenset[str] = frozenset(),
    org_id: str | None = None,
    source: str,
    key_arn: str | None = None,
    window: Mapping[str, Any] | None = None,
    evidence: Mapping[str, object] | None = None,
) -> Offer:
    callers = with_owner_org(callers, key_account, org_id)
    before = analyze_policy(old_policy, zone)
    plan = plan_remediation(
        old_policy,
        callers,
        zone,
        key_account=key_account,
        strategy=strategy,
        keep_external=keep_external,
        org_id=org_id,
    )
    verification = verify(
        old_policy,
        plan.new_policy,
        callers,
        zone,
        key_account=key_account,
        keep_external=keep_external,
    )
    return Offer(
        source=source,
        key_arn=key_arn,
        key_account=key_account,
        zone=zone,
        old_policy=old_policy,
        plan=plan,
        verification=verification,
        callers=callers,
        verdict_before=before.verdict,
        org_id=org_id,
        window=tuple(sorted((str(k), str(v)) for k, v in (window or {}).items() if v)),
        evidence=dict(evidence or {}),
    )


# --------------------------------------------------------------------------- saved plans


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """What `fix apply --plan FILE` reads back from a plan saved with `--format json`."""

    key_arn: str | None
    key_account: str
    zone: TrustZone
    strategy: Strategy
    keep_external: frozenset[str]
    old_policy_sha256: str
    old_policy_canonical_sha256: str | None
    new_policy: str  # the exact text apply sends
    callers: tuple[ObservedCaller, ...]
    offered: bool


def _pairs(raw: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(raw, Mapping):
        return ()
    return tuple(sorted((str(k), tuple(str(x) for x in v)) for k, v in raw.items()))


def _caller_from_json(raw: Mapping[str, Any]) -> ObservedCaller:
    return ObservedCaller(
        principal=str(raw["principal"]),
        account=str(raw["account"]),
        actions=tuple(sorted((str(a), int(n)) for a, n in dict(raw["actions"]).items())),
        principal_type=str(raw.get("principal_type") or "AssumedRole"),
        via_services=tuple(raw.get("via_services") or ()),
        vpc_endpoints=tuple(raw.get("vpc_endpoints") or ()),
        org_id=raw.get("org_id"),
        context=_pairs(raw.get("context")),
        requests=tuple(
            ObservedRequest(
                action=str(r["action"]),
                via_service=r.get("via_service"),
                vpc_endpoint=r.get("vpc_endpoint"),
                context=_pairs(r.get("context")),
                count=int(r.get("count", 1)),
            )
            for r in raw.get("requests") or ()
        ),
    )


def load_plan(text: str, source: str) -> SavedPlan:
    try:
        data = json.loads(text)
        if data.get("kmsguard_plan") != PLAN_FORMAT:
            raise ValueError("not a kmsguard plan")
        zone_raw = data["zone"]
        zone = TrustZone(
            account=str(zone_raw["account"]),
            trusted_accounts=frozenset(zone_raw.get("trusted_accounts") or ()),
            trusted_orgs=frozenset(zone_raw.get("trusted_orgs") or ()),
            trusted_org_paths=frozenset(zone_raw.get("trusted_org_paths") or ()),
        )
        return SavedPlan(
            key_arn=data.get("key_arn"),
            key_account=str(data["key_account"]),
            zone=zone,
            strategy=Strategy(data["strategy"]),
            keep_external=frozenset(data.get("keep_external") or ()),
            old_policy_sha256=str(data["old_policy_sha256"]),
            old_policy_canonical_sha256=data.get("old_policy_canonical_sha256"),
            new_policy=pretty(data["new_policy"]),
            callers=tuple(_caller_from_json(c) for c in data.get("evidence") or ()),
            offered=bool(data.get("offered")),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"`{source}` is not a kmsguard plan: {exc}",
            hint="save one with `kmsguard fix plan ... --format json --output PLAN.json`",
        ) from None
