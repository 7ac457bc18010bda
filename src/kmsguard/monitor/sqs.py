"""The queue consumer: long-poll an SQS queue (fed by an EventBridge rule), hand each message
to the monitor in the order received, and delete a message only once it is handled.

A message that fails (unreadable, AWS or the state unreachable, a sink down) is left alone:
it comes back after the visibility timeout and, after the queue's maxReceiveCount, the
redrive policy moves it to the dead-letter queue. On a stop request (SIGTERM) the consumer
finishes the message in hand, releases the rest of the batch for other consumers and
returns; no message is lost."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from kmsguard.errors import InputError, SourceError

from .handler import Monitor, RetryLaterError
from .sinks import SinkError

log = logging.getLogger("kmsguard.monitor")


@dataclass(slots=True)
class ConsumerStats:
    received: int = 0
    deleted: int = 0
    left: int = 0  # failed: left for redelivery / the DLQ
    released: int = 0  # not started when asked to stop: made visible again
    outcomes: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, object]:
        return {
            "received": self.received,
            "deleted": self.deleted,
            "left_for_redelivery": self.left,
            "released": self.released,
            "outcomes": dict(self.outcomes),
        }


class QueueConsumer:
    def __init__(
        self,
        monitor: Monitor,
        client: Any,
        queue_url: str,
        *,
        batch_size: int = 10,
        wait_seconds: int = 20,
        stop: threading.Event | None = None,
    ) -> None:
        self.monitor = monitor
        self.client = client
        self.queue_url = queue_url
        self.batch_size = max(1, min(10, batch_size))
        self.wait_seconds = max(0, min(20, wait_seconds))
        self.stop = stop or threading.Event()
        self.stats = ConsumerStats()

    def run(self, *, max_empty_polls: int | None = None) -> ConsumerStats:
        """Poll until stopped (or, if given, after that many empty polls in a row)."""
        empty = 0
        while not self.stop.is_set():
            messages = self._receive()
            if not messages:
                empty += 1
                if max_empty_polls is not None and empty >= max_empty_polls:
                    break
                continue
            empty = 0
            self._handle_batch(messages)
        return self.stats

    def _receive(self) -> list[dict[str, Any]]:
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.batch_size,
                WaitTimeSeconds=self.wait_seconds,
                AttributeNames=["ApproximateReceiveCount"],
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise InputError(
                    f"no queue `{self.queue_url}`", hint="give the queue's URL (get-queue-url)"
                ) from exc
            if code in ("AccessDenied", "AccessDeniedException"):
                raise SourceError(
                    f"access denied: sqs:ReceiveMessage on `{self.queue_url}`"
                ) from exc
            log.warning("receive failed: %s; polling again", code)
            self.stop.wait(1.0)
            return []
        except BotoCoreError as exc:
            log.warning("receive failed: %s; polling again", exc)
            self.stop.wait(1.0)
            return []
        messages = [dict(m) for m in response.get("Messages", [])]
        self.stats.received += len(messages)
        return messages

    def _handle_batch(self, messages: list[dict[str, Any]]) -> None:
        done: list[dict[str, Any]] = []
        for index, message in enumerate(messages):
            if self.stop.is_set():
                self._release(messages[index:])
                break
            if self._handle(message):
                done.append(message)
        self._delete(done)

    def _handle(self, message: dict[str, Any]) -> bool:
        """True when the message is handled and may be deleted."""
        body = str(message.get("Body", ""))
        message_id = message.get("MessageId")
        try:
            outcome = self.monitor.handle(body)
        except (RetryLaterError, SinkError) as exc:
            self.stats.left += 1
            self.stats.outcomes["retry"] += 1
            log.warning("message %s left for redelivery: %s", message_id, exc.message)
            return False
        self.stats.outcomes[str(outcome.status)] += 1
        if outcome.failed:
            self.stats.left += 1
            receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            log.error(
                "message %s is unreadable (%s); left for the dead-letter queue (received %s times)",
                message_id,
                outcome.detail,
                receives,
            )
            return False
        return True

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        try:
            response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            # handled but not deleted: the redelivery is a duplicate and alerts nothing
            log.warning("delete failed: %s; the messages will come back as duplicates", exc)
            return
        failed = response.get("Failed", [])
        for f in failed:
            log.warning("delete of message %s failed: %s", f.get("Id"), f.get("Code"))
        self.stats.deleted += len(messages) - len(failed)

    def _release(self, messages: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ]
        try:
            self.client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            log.warning(
                "could not release %d messages (%s): they return after the visibility timeout",
                len(messages),
                exc,
            )
        self.stats.released += len(messages)
