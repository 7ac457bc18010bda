"""End to end on the moto server: EventBridge rule -> SQS -> `kmsguard monitor sqs` (a real
process) -> alerts to a local webhook receiver and to an SNS topic subscribed by a queue.
Unreadable events end in the dead-letter queue through the redrive policy; nothing else is
lost; duplicates alert once, also with two consumers on one queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from .events import OUTSIDE, key_arn, private_policy, public_policy, put_policy, record
from .webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.integration
REGION = "eu-west-1"
PATTERN = {
    "source": ["aws.kms"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventSource": ["kms.amazonaws.com"]},
}


class Wiring:
    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        self.dlq = self.sqs.create_queue(QueueName="kms-events-dlq")["QueueUrl"]
        redrive = {"deadLetterTargetArn": self.arn(self.dlq), "maxReceiveCount": "2"}
        self.queue = self.sqs.create_queue(
            QueueName="kms-events",
            Attributes={"VisibilityTimeout": "2", "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        self.events.put_rule(Name="kms-changes", EventPattern=json.dumps(PATTERN))
        self.events.put_targets(
            Rule="kms-changes", Targets=[{"Id": "queue", "Arn": self.arn(self.queue)}]
        )
        self.topic = sns.create_topic(Name="kmsguard-alerts")["TopicArn"]
        self.copy = self.sqs.create_queue(QueueName="alert-copy")["QueueUrl"]
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=self.arn(self.copy))

    def arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return attrs["Attributes"]["QueueArn"]

    def put(self, records: list[dict[str, Any]]) -> None:
        for i in range(0, len(records), 10):
            entries = [
                {
                    "Source": "aws.kms",
                    "DetailType": "AWS API Call via CloudTrail",
                    "Detail": json.dumps(r),
                }
                for r in records[i : i + 10]
            ]
            result = self.events.put_events(Entries=entries)
            assert result["FailedEntryCount"] == 0

    def depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def drain(self, url: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not got.get("Messages"):
                return out
            out.extend(got["Messages"])


@contextmanager
def consumer(wiring: Wiring, rx: Receiver, db: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [
        sys.executable, "-m", "kmsguard", "monitor", "sqs",
        "--queue-url", wiring.queue, "--region", REGION, "--db", db,
        "--webhook-url", rx.url, "--sns-topic-arn", wiring.topic,
        "--wait-seconds", "1", "--log-level", "info",
    ]  # fmt: skip
    with log.open("wb") as out, log.with_suffix(".err").open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=dict(os.environ))
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def wait_for(check: Callable[[], bool], what: str, logs: list[Path], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            shown = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
            raise AssertionError(f"timed out waiting for {what}\n{shown}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def t(minute: int) -> str:
    return f"2026-11-20T10:{minute:02d}:00Z"


def test_eventbridge_to_queue_to_webhook_and_sns(aws_env: str, tmp_path: Path) -> None:
    wiring = Wiring()
    exposed = put_policy(public_policy(), key_arn(1), time=t(2), event_id="exposed-1")
    records = [
        put_policy(private_policy(), key_arn(1), time=t(1), event_id="private-1"),
        exposed,
        exposed,  # CloudTrail delivers duplicates with the same eventID
        record(
            "CreateGrant", key_arn(2), time=t(3), event_id="grant-2",
            params={"granteePrincipal": f"arn:aws:iam::{OUTSIDE}:root",
                    "operations": ["Decrypt"]},
            response={"grantId": "g-2"},
        ),
        record("Decrypt", key_arn(1), time=t(4), event_id="decrypt-1"),  # ignored
        {"eventSource": "kms.amazonaws.com", "eventName": "PutKeyPolicy"},  # no eventID
    ]  # fmt: skip
    wiring.put(records)
    wiring.sqs.send_message(QueueUrl=wiring.queue, MessageBody="not json at all")
    db = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    logs = [tmp_path / "out.err"]
    with webhook_receiver() as rx, consumer(wiring, rx, db, tmp_path / "out.jsonl") as proc:
        wait_for(lambda: len(rx.alerts()) >= 4, "the first alerts", logs)
        # the exposure is fixed later: the key is private again
        wiring.put([put_policy(private_policy(), key_arn(1), time=t(9), event_id="fixed-1")])
        wait_for(lambda: len(rx.alerts()) >= 5, "the resolved alert", logs)
        wait_for(lambda: wiring.depth(wiring.dlq) == 2, "both unreadable messages in the DLQ", logs)
        wait_for(lambda: wiring.depth(wiring.queue) == 0, "an empty queue", logs)
        stop(proc)
        webhook = rx.alerts()
    kinds = sorted((a["type"], a["event_id"]) for a in webhook)
    assert kinds == [
        ("error", None),
        ("error", None),
        ("exposed", "exposed-1"),
        ("grant", "grant-2"),
        ("resolved", "fixed-1"),
    ]
    assert {a["reason"].split(":")[0] for a in webhook if a["type"] == "error"} == {
        "not JSON",
        "the PutKeyPolicy record has no `eventID`",
    }
    exposed_alert = next(a for a in webhook if a["type"] == "exposed")
    assert exposed_alert["key_arn"] == key_arn(1)
    assert exposed_alert["actor"]["source_ip"] == "198.51.100.7"
    assert exposed_alert["witness"]["action"] == "kms:Decrypt"
    # the same alerts on standard output and through SNS
    printed = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert printed == webhook
    via_sns = [json.loads(json.loads(m["Body"])["Message"]) for m in wiring.drain(wiring.copy)]
    assert sorted(a["alert_id"] for a in via_sns) == sorted(a["alert_id"] for a in webhook)
    dead = sorted(m["Body"] for m in wiring.drain(wiring.dlq))
    assert dead[0] == "not json at all"
    assert json.loads(dead[1])["detail"] == records[-1]
    log = (tmp_path / "out.err").read_text()
    assert "left for the dead-letter queue" in log
    assert "SIGTERM" in log


def test_two_consumers_alert_once(aws_env: str, tmp_path: Path) -> None:
    wiring = Wiring()
    records = [
        put_policy(public_policy(), key_arn(n), time=t(1), event_id=f"public-{n}")
        for n in range(1, 31)
    ]
    wiring.put(records + records)  # every event twice
    db = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    with (
        webhook_receiver() as rx,
        consumer(wiring, rx, db, tmp_path / "a.jsonl") as first,
        consumer(wiring, rx, db, tmp_path / "b.jsonl") as second,
    ):
        wait_for(lambda: len(rx.alerts()) >= 30, "30 alerts", logs)
        wait_for(lambda: wiring.depth(wiring.queue) == 0, "an empty queue", logs)
        time.sleep(1.5)  # time for a double alert to show up, were there one
        stop(first)
        stop(second)
        webhook = rx.alerts()
    assert sorted(a["event_id"] for a in webhook) == sorted(f"public-{n}" for n in range(1, 31))
    a = (tmp_path / "a.jsonl").read_text().splitlines()
    b = (tmp_path / "b.jsonl").read_text().splitlines()
    assert len(a) + len(b) == 30
    assert a
    assert b
    assert wiring.depth(wiring.dlq) == 0


def test_missing_queue_is_an_input_error(aws_env: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kmsguard", "monitor", "sqs", "--region", REGION,
         "--queue-url", f"{aws_env}/123456789012/nope", "--wait-seconds", "0",
         "--db", f"sqlite:///{tmp_path / 's.sqlite3'}"],
        capture_output=True, text=True, check=False, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "no queue" in done.stderr
    assert "Traceback" not in done.stderr


def test_dynamodb_state_from_the_command_line(aws_env: str, tmp_path: Path) -> None:
    from kmsguard.monitor.state_dynamodb import create_table

    create_table(boto3.client("dynamodb", region_name=REGION), "monitor-state")
    (tmp_path / "e.json").write_text(json.dumps(put_policy(public_policy(), event_id="d1")))
    cmd = [sys.executable, "-m", "kmsguard", "monitor", "replay", "--region", REGION,
           "--dynamodb-table", "monitor-state", str(tmp_path / "e.json")]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, check=False, env=dict(os.environ))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["event_id"] == "d1"
    again = subprocess.run(cmd, capture_output=True, text=True, check=False, env=dict(os.environ))
    assert again.stdout == ""
