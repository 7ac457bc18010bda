"""Regression: analysing policies from several threads at once (the live scanner does) once
crashed inside Z3, whose default context is shared; each analysis now has its own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kmsguard.model import TrustZone, Verdict
from kmsguard.policy import analyze_policy

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
ZONE = TrustZone(account="123456789012", trusted_orgs=frozenset({"o-exampleorgid"}))


def _verdict(path: Path) -> Verdict:
    # shortcuts=False: every question goes to the solver; a new zone defeats the cache
    return analyze_policy(path.read_text(), ZONE, shortcuts=False).verdict


def test_concurrent_analyses_agree_with_sequential_ones() -> None:
    files = sorted(
        f for f in CORPUS.rglob("*.json") if f.name != "labels.json" and "invalid" not in f.parts
    )
    expected = [_verdict(f) for f in files]
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(
            pool.map(
                lambda f: (
                    analyze_policy(
                        f.read_text(),
                        TrustZone(
                            account="123456789012",
                            trusted_orgs=frozenset({"o-exampleorgid"}),
                            trusted_accounts=frozenset({"000011112222"}),
                        ),
                        shortcuts=False,
                    ).verdict
                ),
                files * 2,
            )
        )
    assert got == expected * 2
