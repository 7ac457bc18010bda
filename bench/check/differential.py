"""Differential benchmark: N seeded tricky policies (tests/unit/policy/tricky.py), each
judged with shortcuts on and off and re-checked by a brute-force search over representative
requests. Prints every disagreement (with the policy), the count (must be 0), the verdict
mix, and the slowest judgement (both ways).

Run: .venv/bin/python bench/check/differential.py [--count 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.unit.policy.tricky import check, tricky_policy


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    verdicts: Counter[str] = Counter()
    bad = 0
    slowest = (0.0, "")
    start = time.perf_counter()
    for _ in range(args.count):
        policy = tricky_policy(rnd)
        t = time.perf_counter()
        outcome = check(policy)
        dt = time.perf_counter() - t
        if dt > slowest[0]:
            slowest = (dt, json.dumps(policy))
        verdicts[str(outcome.verdict)] += 1
        if outcome.problems:
            bad += 1
            print("DISAGREEMENT", outcome.problems, json.dumps(policy))
    total = time.perf_counter() - start
    print(f"policies        {args.count} (seed {args.seed})")
    print(f"verdicts        {dict(verdicts)}")
    print(f"disagreements   {bad}")
    print(f"total           {total:.1f} s (both ways + brute force)")
    print(f"slowest         {slowest[0]:.2f} s  {slowest[1]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
