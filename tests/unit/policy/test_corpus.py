"""The engine's truth: every labelled policy gets an accepted verdict, exposes what it must
and not what it must not, and every witness is allowed by the evaluator from outside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.errors import PolicyParseError
from kmsguard.model import Assessment, TrustZone
from kmsguard.policy import Request, analyze_policy, evaluate, parse_policy
from kmsguard.policy.exposure import _Analysis
from kmsguard.policy.possible import impossible

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
SHARED = CORPUS / "key-policies"
OWN = CORPUS / "engine-cases"


def _cases(root: Path) -> list[Any]:
    labels = json.loads((root / "labels.json").read_text())
    return [
        pytest.param(root / c["file"], c, id=name) for name, c in sorted(labels["cases"].items())
    ]


def _zone(case: dict[str, Any]) -> TrustZone:
    return TrustZone(
        account="123456789012",
        trusted_orgs=frozenset({"o-exampleorgid"}),
        trusted_accounts=frozenset(case.get("trusted", [])),
    )


@pytest.mark.parametrize(("path", "case"), [*_cases(SHARED), *_cases(OWN)])
def test_labelled_policy(path: Path, case: dict[str, Any]) -> None:
    zone = _zone(case)
    assessment = analyze_policy(path.read_text(), zone)
    assert str(assessment.verdict) in case["accept"], case.get("why")
    exposed = set(assessment.exposed_actions)
    assert set(case.get("expose", [])) <= exposed
    assert not set(case.get("not_expose", [])) & exposed
    if "note" in case:
        assert any(case["note"] in n for n in assessment.notes), assessment.notes
    named = {s for e in assessment.exposures for s in e.statements}
    assert set(case.get("statements", [])) <= named, case.get("why")
    policy = parse_policy(path.read_text())
    for exposure in assessment.exposures:
        w = exposure.witness
        if w is None:
            continue
        assert not zone.contains_account(w.account)
        assert not zone.contains_org(w.org_id)
        request = Request(
            principal=w.principal,
            account=w.account,
            action=w.action,
            principal_type=w.principal_type,
            org_id=w.org_id,
            context=w.context_dict(),
        )
        decision = evaluate(policy, request, key_account=zone.account)
        assert decision.allowed, w.describe()
        assert impossible(request) is None, w.describe()
        assert w.action in exposure.actions


@pytest.mark.parametrize("path", sorted((SHARED / "invalid").iterdir()), ids=lambda p: p.name)
def test_invalid_policy_is_an_error(path: Path) -> None:
    with pytest.raises(PolicyParseError) as info:
        parse_policy(path.read_bytes())
    assert info.value.path.startswith("$")


def test_severity_follows_the_most_dangerous_action() -> None:
    zone = _zone({})
    verify = analyze_policy((SHARED / "untrusted/public_key_verify.json").read_text(), zone)
    describe = analyze_policy((SHARED / "untrusted/describe_wildcard_only.json").read_text(), zone)
    star = analyze_policy((SHARED / "untrusted/star_string_all.json").read_text(), zone)
    vpce = analyze_policy((SHARED / "untrusted/source_vpce_only.json").read_text(), zone)
    assert (str(verify.severity), str(describe.severity), str(star.severity)) == (
        "info",
        "low",
        "critical",
    )
    assert vpce.exposures[0].network_restricted
    assert str(vpce.severity) == "high"  # Decrypt is critical, one level lower


@pytest.mark.parametrize(("path", "case"), [*_cases(SHARED), *_cases(OWN)])
def test_labelled_policy_without_shortcuts(path: Path, case: dict[str, Any]) -> None:
    """The solver alone reaches the same verdicts as the shortcuts."""
    assessment = analyze_policy(path.read_text(), _zone(case), shortcuts=False)
    assert str(assessment.verdict) in case["accept"], case.get("why")
    assert set(case.get("expose", [])) <= set(assessment.exposed_actions)


@pytest.mark.parametrize(("path", "case"), _cases(OWN))
def test_the_same_verdict_on_every_run(path: Path, case: dict[str, Any]) -> None:
    """No cache, twice, both ways: the solver is budgeted by Z3's deterministic resource
    limit, so the answer cannot depend on load."""
    policy = parse_policy(path.read_text())
    zone = _zone(case)
    for shortcuts in (True, False):
        runs = [_answer(_Analysis(policy, zone, None, shortcuts).run()) for _ in range(2)]
        assert runs[0] == runs[1]
        assert str(runs[0][0]) in case["accept"], case.get("why")


def _answer(a: Assessment) -> tuple[object, ...]:
    """Everything but the witnesses (a witness may carry the current time)."""
    exposures = tuple((e.kind, e.actions, e.principals, e.statements) for e in a.exposures)
    return (a.verdict, a.severity, exposures, a.errors, a.notes)
