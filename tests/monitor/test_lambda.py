"""The Lambda entry point against the moto server: DynamoDB state (conditional writes), SNS,
GetKeyPolicy for events without the policy; unreadable events raise (retries, then DLQ)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from kmsguard.errors import InputError
from kmsguard.monitor import lambda_handler
from kmsguard.monitor.state_dynamodb import create_table

from .events import envelope, public_policy, put_policy, record

pytestmark = pytest.mark.integration


@pytest.fixture
def lambda_env(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    create_table(boto3.client("dynamodb", region_name="eu-west-1"), "kmsguard-monitor")
    sns = boto3.client("sns", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="copy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    monkeypatch.setenv("KMSGUARD_STATE_TABLE", "kmsguard-monitor")
    monkeypatch.setenv("KMSGUARD_SNS_TOPIC_ARN", topic)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    lambda_handler.reset()
    yield queue
    lambda_handler.reset()


def _copies(queue: str) -> list[dict[str, object]]:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]


def test_handler_alerts_once_per_event(lambda_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    event = envelope(put_policy(public_policy(), event_id="e1"))
    first = lambda_handler.handler(event, None)
    assert first["status"] == "alerted"
    again = lambda_handler.handler(event, None)  # Lambda retries and EventBridge redelivers
    assert again["status"] == "duplicate"
    [alert] = _copies(lambda_env)
    assert alert["type"] == "exposed"
    assert alert["event_id"] == "e1"
    assert json.loads(capsys.readouterr().out)["event_id"] == "e1"  # the function's log
    table = boto3.client("dynamodb", region_name="eu-west-1")
    item = table.get_item(TableName="kmsguard-monitor", Key={"pk": {"S": "event#e1"}})["Item"]
    assert item["status"]["S"] == "delivered"


def test_handler_reads_the_policy_when_the_event_lacks_it(lambda_env: str) -> None:
    kms = boto3.client("kms", region_name="eu-west-1")
    key = kms.create_key(Policy=public_policy("123456789012"))["KeyMetadata"]["Arn"]
    event = envelope(record("PutKeyPolicy", key, params={"policyName": "default"}))
    assert lambda_handler.handler(event, None)["status"] == "alerted"
    [alert] = _copies(lambda_env)
    assert alert["verdict"] == "public"


def test_unreadable_event_raises_after_one_error_alert(lambda_env: str) -> None:
    with pytest.raises(lambda_handler.UnreadableEventError):
        lambda_handler.handler({"detail-type": "AWS API Call via CloudTrail", "detail": 3}, None)
    with pytest.raises(lambda_handler.UnreadableEventError):
        lambda_handler.handler({"detail-type": "AWS API Call via CloudTrail", "detail": 3}, None)
    assert [a["type"] for a in _copies(lambda_env)] == ["error"]


def test_missing_table_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMSGUARD_STATE_TABLE", raising=False)
    lambda_handler.reset()
    with pytest.raises(InputError):
        lambda_handler.handler({}, None)
