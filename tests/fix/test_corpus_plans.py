"""Every policy of the golden corpus, with no observed usage: each strategy's plan removes
the exposure and passes verification (or there is nothing to fix)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmsguard.fix.planning import make_offer
from kmsguard.model import TrustZone, Verdict
from kmsguard.policy.remediation import Strategy

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "key-policies"
LABELS = json.loads((CORPUS / "labels.json").read_text())
CASES = sorted(
    p.relative_to(CORPUS).as_posix()
    for batch in ("untrusted", "trusted")
    for p in (CORPUS / batch).glob("*.json")
)


@pytest.mark.parametrize("case", CASES)
def test_corpus_policy_plans_verify(case: str) -> None:
    trusted = LABELS["trusted_batch_accounts"] if case.startswith("trusted/") else []
    zone = TrustZone(
        account=LABELS["account"],
        trusted_accounts=frozenset(trusted),
        trusted_orgs=frozenset({LABELS["org_id"]}),
    )
    text = (CORPUS / case).read_text()
    for strategy in Strategy:
        offer = make_offer(
            text, (), zone, key_account=LABELS["account"], strategy=strategy,
            org_id=LABELS["org_id"], source=case,
        )
        if offer.verdict_before is Verdict.PRIVATE:
            assert not offer.plan.changed, (strategy, offer.plan.new_policy)
            continue
        assert offer.plan.changed, (strategy, offer.verdict_before)
        assert offer.verification.ok, (strategy, offer.verification.failures)
        assert offer.verification.verdict_after is Verdict.PRIVATE
