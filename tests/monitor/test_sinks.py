"""Sinks: JSON lines on standard output, the webhook (real HTTP on 127.0.0.1, with timeouts
and retries), SNS (moto) and the fan-out."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from kmsguard.errors import InputError
from kmsguard.monitor import Actor, Alert, AlertType, FanoutSink, SinkError, SnsSink, StdoutSink
from kmsguard.monitor.sinks import WebhookSink

from .webhook import webhook_receiver

ALERT = Alert(
    type=AlertType.EXPOSED,
    key_arn="arn:aws:kms:eu-west-1:111122223333:key/k1",
    event_id="e1",
    event_name="PutKeyPolicy",
    event_time="2026-11-20T10:00:00Z",
    account="111122223333",
    region="eu-west-1",
    actor=Actor("arn:aws:iam::111122223333:role/admin\x1b[31m", source_ip="192.0.2.1"),
    verdict="public",
    previous_verdict="private",
    severity="critical",
    exposed_actions=("kms:Decrypt",),
    reason="the policy made the key public",
)

FIELDS = {"type", "key_arn", "event_id", "event_name", "actor", "verdict", "severity", "exposures"}


def test_stdout_is_one_json_object_per_line() -> None:
    out = io.StringIO()
    StdoutSink(out).send(ALERT)
    StdoutSink(out).send(ALERT)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    data = json.loads(lines[0])
    assert set(data) >= FIELDS
    assert "\x1b" not in lines[0]  # control characters are escaped by JSON


def _no_sleep(_: float) -> None:
    pass


def test_webhook_posts_slack_compatible_json() -> None:
    with webhook_receiver() as rx:
        WebhookSink(rx.url).send(ALERT)
        [body] = rx.bodies
    assert body["text"].startswith("[critical] KMS key arn:aws:kms:eu-west-1:111122223333:key/k1")
    assert body["alert"] == ALERT.to_json()


def test_webhook_retries_server_errors() -> None:
    with webhook_receiver() as rx:
        rx.statuses = [500, 429]
        WebhookSink(rx.url, sleep=_no_sleep).send(ALERT)
        assert len(rx.bodies) == 1
        assert rx.statuses == []


def test_webhook_gives_up_and_hides_the_secret_path() -> None:
    with webhook_receiver() as rx:
        rx.statuses = [503] * 10
        with pytest.raises(SinkError) as info:
            WebhookSink(rx.url, attempts=3, sleep=_no_sleep).send(ALERT)
        assert rx.statuses == [503] * 7  # three attempts
    assert "HTTP 503" in info.value.message
    assert "secret" not in info.value.message


def test_webhook_does_not_retry_a_refusal() -> None:
    with webhook_receiver() as rx:
        rx.statuses = [400, 400]
        with pytest.raises(SinkError):
            WebhookSink(rx.url, sleep=_no_sleep).send(ALERT)
        assert rx.statuses == [400]


def test_webhook_times_out() -> None:
    with webhook_receiver() as rx:
        rx.delay = 1.0
        with pytest.raises(SinkError):
            WebhookSink(rx.url, timeout=0.2, attempts=2, sleep=_no_sleep).send(ALERT)


def test_webhook_unreachable() -> None:
    from tests.integration.moto import free_port

    with pytest.raises(SinkError):
        WebhookSink(f"http://127.0.0.1:{free_port()}/x", attempts=2, sleep=_no_sleep).send(ALERT)


@pytest.mark.parametrize("url", ["ftp://example.invalid/x", "file:///etc/passwd", "hooks"])
def test_webhook_url_must_be_http(url: str) -> None:
    with pytest.raises(InputError):
        WebhookSink(url)


def test_fanout_tries_every_sink_and_names_failures() -> None:
    out = io.StringIO()
    with webhook_receiver() as rx:
        rx.statuses = [400]
        with pytest.raises(SinkError):
            FanoutSink([WebhookSink(rx.url, sleep=_no_sleep), StdoutSink(out)]).send(ALERT)
    assert json.loads(out.getvalue())["event_id"] == "e1"


def test_sns_publishes_to_a_subscribed_queue(aws_env: str) -> None:
    sns = boto3.client("sns", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-copy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    SnsSink(sns, topic).send(ALERT)
    [msg] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    note = json.loads(msg["Body"])
    assert json.loads(note["Message"]) == ALERT.to_json()
    assert note["MessageAttributes"]["type"]["Value"] == "exposed"
    with pytest.raises(SinkError):
        SnsSink(sns, topic.replace("alerts", "missing")).send(ALERT)
