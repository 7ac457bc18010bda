"""How long recording scans and computing the KPIs take on a synthetic history.

    .venv/bin/python bench/history/kpis.py [--keys 2000] [--scans 30] [--db URL]

Each daily scan of one account/region sees every key (a snapshot each), ~5% of them with a
public policy; a public key is fixed after 1-10 days. Prints the seconds per recorded scan,
the rows written and the time `kmsguard report` needs to compute the KPIs (and the JSON).
SQLite in a temporary folder unless --db is given.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kmsguard import rules
from kmsguard.model import Severity, Verdict
from kmsguard.store import History, KeySnapshot, Observation, RunKind, open_database
from kmsguard.store.kpis import compute, kpis_json

ACCOUNT, REGION = "111122223333", "eu-west-1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def arn(n: int) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-4000-8000-{n:012d}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--scans", type=int, default=30)
    parser.add_argument("--db")
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        history = History(open_database(url))
        public_until: dict[int, int] = {}
        record_seconds = []
        for day in range(args.scans):
            for n in range(args.keys):
                if n not in public_until and rng.random() < 0.05 / max(1, args.scans / 10):
                    public_until[n] = day + rng.randint(1, 10)
            public = [n for n, until in public_until.items() if until > day]
            observations = [
                Observation(
                    kind=RunKind.AWS, subject=arn(n), rule_id=rules.PUBLIC_POLICY,
                    scope_unit=f"{ACCOUNT}/{REGION}", display_source=arn(n),
                    verdict=Verdict.PUBLIC, severity=Severity.CRITICAL, account=ACCOUNT,
                    region=REGION, statements=("Open",), witness="w",
                )
                for n in public
            ]
            snapshots = [
                KeySnapshot(arn(n), ACCOUNT, REGION, "CUSTOMER", "Enabled",
                            "public" if n in public else "private", "none", n % 5 != 0)
                for n in range(args.keys)
            ]
            started = time.perf_counter()
            history.record_run(RunKind.AWS, [f"{ACCOUNT}/{REGION}"], observations,
                               complete=True, finished_at=T0 + timedelta(days=day),
                               snapshots=snapshots)
            record_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        kpis = compute(history, now=T0 + timedelta(days=args.scans))
        report = kpis_json(kpis)
        compute_seconds = time.perf_counter() - started
        print(f"database: {url.split(':', 1)[0]}")
        print(f"keys: {args.keys}, scans: {args.scans}, snapshots: {args.keys * args.scans}, "
              f"finding episodes: {len(history.findings())}")
        print(f"record one scan: mean {sum(record_seconds) / len(record_seconds):.3f} s, "
              f"max {max(record_seconds):.3f} s")
        print(f"compute the KPIs + JSON: {compute_seconds:.3f} s")
        mttr = report["kpis"]["mttr_critical_hours"]  # type: ignore[index]
        print(f"check: public now {kpis.public_now}, MTTR mean {mttr['mean']} h over "
              f"{mttr['resolved']} resolved")
        history.engine.dispose()


if __name__ == "__main__":
    main()
