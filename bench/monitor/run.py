"""Latency of `kmsguard monitor`: replay N CloudTrail KMS events (default 10,000; 2 % of them
make a key public) through the real handler — engine, SQLite state file, JSON-lines sink —
and print the median and p99 time from receipt of an event to its alert, the same for every
event (alert or not), and events per second.

    .venv/bin/python bench/monitor/run.py [--events 10000] [--keys 1000] [--public 0.02]

The events are written to a JSON-lines file first and read back with the replay reader, as
`kmsguard monitor replay` does; the clock starts when the handler receives the line. No AWS
round trips: every event carries what it needs (as PutKeyPolicy and CreateKey events do).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from kmsguard.model import TrustZone  # noqa: E402
from kmsguard.monitor import Alert, AlertType, Monitor, MonitorConfig, StdoutSink  # noqa: E402
from kmsguard.monitor.replay import replay_items  # noqa: E402
from kmsguard.monitor.state_sql import SqlMonitorState  # noqa: E402
from kmsguard.store import open_database  # noqa: E402

REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
OUTSIDE = "444455556666"
ORG = "o-exampleorg01"  # the owners' organization (trusted)


def key_arn(n: int) -> str:
    account = f"{111122220000 + n % 7:012d}"
    return f"arn:aws:kms:{REGIONS[n % 3]}:{account}:key/{n:08d}-0000-4000-8000-000000000000"


def private_policy(account: str, n: int, variant: int) -> str:
    stmts: list[dict[str, Any]] = [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "App", "Effect": "Allow",
         "Principal": {"AWS": [f"arn:aws:iam::{account}:role/app-{n}-{variant}"]},
         "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"], "Resource": "*"},
    ]  # fmt: skip
    if variant % 3 == 1:
        stmts.append(
            {"Sid": "ViaS3", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
             "Condition": {"StringEquals": {
                 "kms:CallerAccount": account,
                 "kms:ViaService": f"s3.{REGIONS[n % 3]}.amazonaws.com"}}}
        )  # fmt: skip
    if variant % 3 == 2:
        stmts.append(
            {"Sid": "Org", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}}}
        )  # fmt: skip
    return json.dumps({"Version": "2012-10-17", "Statement": stmts})


SHAPES = (
    "Principal * without conditions",
    "AWS * with aws:SecureTransport",
    "AWS * with StringLike aws:PrincipalArn arn:aws:iam::*:role/app-*",
    "AWS * with kms:ViaService only",
)


def public_policy(account: str, n: int) -> str:
    doc = json.loads(private_policy(account, n, 0))
    shapes: list[dict[str, Any]] = [
        {"Principal": "*", "Action": "kms:Decrypt"},
        {"Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        {"Principal": {"AWS": "*"}, "Action": "kms:*",
         "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app-*"}}},
        {"Principal": {"AWS": "*"}, "Action": "kms:Decrypt",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}},
    ]  # fmt: skip
    doc["Statement"].append({"Sid": "Open", "Effect": "Allow", "Resource": "*", **shapes[n % 4]})
    return json.dumps(doc)


def record(n: int, name: str, minute: int, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    key = key_arn(n)
    account = key.split(":")[4]
    return {
        "eventVersion": "1.11",
        "userIdentity": {"type": "AssumedRole", "accountId": account,
                         "arn": f"arn:aws:sts::{account}:assumed-role/admin/s",
                         "sessionContext": {"sessionIssuer": {"type": "Role",
                                            "arn": f"arn:aws:iam::{account}:role/admin"}}},
        "eventTime": f"2026-11-{20 + minute // 1440:02d}T"
                     f"{minute // 60 % 24:02d}:{minute % 60:02d}:00Z",
        "eventSource": "kms.amazonaws.com", "eventName": name, "awsRegion": key.split(":")[3],
        "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2",
        "requestParameters": {"keyId": key, **params}, "responseElements": extra.get("response"),
        "eventID": f"bench-{minute:08d}", "eventType": "AwsApiCall", "recipientAccountId": account,
        "resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}],
    }  # fmt: skip


def generate(
    count: int, keys: int, public_share: float, seed: int
) -> tuple[list[dict[str, Any]], int]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    public_keys: set[int] = set()
    made_public = 0
    for i in range(count):
        n = rng.randrange(keys)
        account = key_arn(n).split(":")[4]
        roll = rng.random()
        if roll < public_share:
            out.append(
                record(
                    n,
                    "PutKeyPolicy",
                    i,
                    {"policyName": "default", "policy": public_policy(account, n)},
                )
            )
            public_keys.add(n)
            made_public += 1
        elif roll < 0.35:
            if n in public_keys and rng.random() < 0.5:
                public_keys.discard(n)  # fixed: a resolved alert
            out.append(
                record(
                    n,
                    "PutKeyPolicy",
                    i,
                    {
                        "policyName": "default",
                        "policy": private_policy(account, n, rng.randrange(6)),
                    },
                )
            )
        elif roll < 0.45:
            out.append(
                record(
                    n,
                    "CreateKey",
                    i,
                    {
                        "policy": private_policy(account, n, 0),
                        "tags": [{"tagKey": "owner", "tagValue": "team"}],
                    },
                )
            )
        elif roll < 0.60:
            grantee = (
                f"arn:aws:iam::{account}:role/worker"
                if rng.random() < 0.98
                else f"arn:aws:iam::{OUTSIDE}:role/partner"
            )
            out.append(
                record(
                    n,
                    "CreateGrant",
                    i,
                    {"granteePrincipal": grantee, "operations": ["Decrypt"]},
                    response={"grantId": f"g{i}"},
                )
            )
        elif roll < 0.75:
            out.append(
                record(n, "TagResource", i, {"tags": [{"tagKey": "env", "tagValue": "prod"}]})
            )
        elif roll < 0.80:
            out.append(record(n, "UntagResource", i, {"tagKeys": ["env"]}))
        else:
            name = ("EnableKey", "DisableKey", "RevokeGrant", "ScheduleKeyDeletion")[i % 4]
            out.append(
                record(n, name, i, {"grantId": f"g{i - 1}"} if name == "RevokeGrant" else {})
            )
    return out, made_public


class TimingSink:
    """Writes each alert as a JSON line (to memory) and notes when it was emitted."""

    def __init__(self) -> None:
        self.inner = StdoutSink(io.StringIO())
        self.sent: list[tuple[float, Alert]] = []

    def send(self, alert: Alert) -> None:
        self.inner.send(alert)
        self.sent.append((time.perf_counter(), alert))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--public", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        events, made_public = generate(args.events, args.keys, args.public, args.seed)
        path = Path(tmp) / "events.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        sink = TimingSink()
        state = SqlMonitorState(open_database(f"sqlite:///{tmp}/state.sqlite3"))
        zone = TrustZone(trusted_orgs=frozenset({ORG}))
        monitor = Monitor(state, sink, config=MonitorConfig(zone=zone))
        per_event: list[float] = []
        to_alert: list[float] = []
        by_shape: dict[str, list[float]] = {}
        statuses: dict[str, int] = {}
        started = time.perf_counter()
        for item in replay_items(path):
            assert item.raw is not None
            received = time.perf_counter()
            before = len(sink.sent)
            outcome = monitor.handle(item.raw)
            done = time.perf_counter()
            per_event.append(done - received)
            for sent, alert in sink.sent[before:]:
                to_alert.append(sent - received)
                if alert.type is AlertType.EXPOSED and alert.verdict == "public":
                    n = int((alert.key_arn or "/0").rsplit("/", 1)[1].split("-")[0])
                    by_shape.setdefault(SHAPES[n % 4], []).append(sent - received)
            statuses[str(outcome.status)] = statuses.get(str(outcome.status), 0) + 1
        elapsed = time.perf_counter() - started
    kinds: dict[str, int] = {}
    for _, alert in sink.sent:
        kinds[str(alert.type)] = kinds.get(str(alert.type), 0) + 1
    ms = 1000.0
    print(f"events: {len(per_event)} ({made_public} PutKeyPolicy making a key public), "
          f"keys: {args.keys}, state: SQLite file (WAL, synchronous=FULL)")  # fmt: skip
    print(f"outcomes: {json.dumps(statuses, sort_keys=True)}")
    print(f"alerts: {json.dumps(kinds, sort_keys=True)}")
    print(f"receipt -> alert ({len(to_alert)} alerts): "
          f"median {statistics.median(to_alert) * ms:.2f} ms, "
          f"p99 {pct(to_alert, 0.99) * ms:.2f} ms, max {max(to_alert) * ms:.2f} ms")  # fmt: skip
    for shape, values in sorted(by_shape.items()):
        print(f"  public alerts, {shape}: {len(values)}, median "
              f"{statistics.median(values) * ms:.2f} ms, "
              f"max {max(values) * ms:.2f} ms")  # fmt: skip
    print(f"per event (all):  median {statistics.median(per_event) * ms:.2f} ms, "
          f"p99 {pct(per_event, 0.99) * ms:.2f} ms, max {max(per_event) * ms:.2f} ms")  # fmt: skip
    print(f"throughput: {len(per_event) / elapsed:.0f} events/s ({elapsed:.1f} s in all)")
    target = pct(to_alert, 0.99) * ms < 100 and pct(per_event, 0.99) * ms < 100
    print(f"target p99 < 100 ms: {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
