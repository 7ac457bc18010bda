"""Every engine corpus case (tests/corpus/engine-cases), judged without cache with shortcuts
on and off, N times: prints the slowest cases, the solver's resource use, and whether any
case ever changed its answer (it must not: the solver's budget is Z3's deterministic rlimit).

Run: .venv/bin/python bench/check/cases.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from kmsguard.model import TrustZone
from kmsguard.policy import parse_policy
from kmsguard.policy.exposure import _Analysis

ROOT = Path(__file__).resolve().parents[2] / "tests/corpus/engine-cases"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    labels = json.loads((ROOT / "labels.json").read_text())["cases"]
    times: list[tuple[float, str]] = []
    unstable = []
    for name, case in sorted(labels.items()):
        policy = parse_policy((ROOT / case["file"]).read_text())
        zone = TrustZone(
            account="123456789012",
            trusted_orgs=frozenset({"o-exampleorgid"}),
            trusted_accounts=frozenset(case.get("trusted", [])),
        )
        for shortcuts in (True, False):
            answers = set()
            worst = 0.0
            for _ in range(args.runs):
                t = time.perf_counter()
                a = _Analysis(policy, zone, None, shortcuts).run()
                worst = max(worst, time.perf_counter() - t)
                answers.add((a.verdict, a.exposed_actions, a.errors))
            times.append((worst, f"{name} (shortcuts {'on' if shortcuts else 'off'})"))
            if len(answers) > 1 or str(next(iter(answers))[0]) not in case["accept"]:
                unstable.append(name)
    times.sort(reverse=True)
    print(f"cases            {len(labels)} x 2 ways x {args.runs} runs")
    print(f"changed or wrong {unstable or 'none'}")
    print(f"slowest          {times[0][0]:.3f} s  {times[0][1]}")
    for t, label in times[1:6]:
        print(f"                 {t:.3f} s  {label}")
    print(f"over 1 s         {sum(1 for t, _ in times if t > 1.0)}")


if __name__ == "__main__":
    main()
