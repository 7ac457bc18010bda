"""The queue consumer's bookkeeping with a fake SQS client: delete only what was handled,
leave failures, release the rest of a batch on a stop request."""

from __future__ import annotations

import json
import threading
from typing import Any

from kmsguard.monitor import CollectingSink, Monitor
from kmsguard.monitor.sqs import QueueConsumer
from kmsguard.monitor.state_sql import SqlMonitorState

from .events import public_policy, put_policy


class FakeSqs:
    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = [
            [{"MessageId": f"m{i}-{j}", "ReceiptHandle": f"r{i}-{j}", "Body": body}
             for j, body in enumerate(batch)]
            for i, batch in enumerate(batches)
        ]  # fmt: skip
        self.deleted: list[str] = []
        self.released: list[str] = []

    def receive_message(self, **kw: Any) -> dict[str, Any]:
        assert kw["WaitTimeSeconds"] == 20
        assert kw["MaxNumberOfMessages"] == 10
        return {"Messages": self.batches.pop(0)} if self.batches else {}

    def delete_message_batch(self, **kw: Any) -> Any:
        self.deleted.extend(e["ReceiptHandle"] for e in kw["Entries"])
        return {"Successful": kw["Entries"], "Failed": []}

    def change_message_visibility_batch(self, **kw: Any) -> Any:
        assert all(e["VisibilityTimeout"] == 0 for e in kw["Entries"])
        self.released.extend(e["ReceiptHandle"] for e in kw["Entries"])
        return {}


def _body(n: int) -> str:
    return json.dumps(put_policy(public_policy(), event_id=f"e{n}", time=f"2026-11-20T10:0{n}:00Z"))


def test_handled_messages_are_deleted_failures_left(sql_state: SqlMonitorState) -> None:
    sink = CollectingSink()
    client = FakeSqs([[_body(1), "garbage", _body(1)], [_body(2)]])
    consumer = QueueConsumer(Monitor(sql_state, sink), client, "q")
    stats = consumer.run(max_empty_polls=1)
    assert client.deleted == ["r0-0", "r0-2", "r1-0"]  # the garbage stays for the DLQ
    assert stats.received == 4
    assert stats.left == 1
    assert stats.outcomes["duplicate"] == 1
    assert [a.event_id for a in sink.alerts] == ["e1", None]


def test_stop_request_finishes_the_message_in_hand_and_releases_the_rest(
    sql_state: SqlMonitorState,
) -> None:
    stop = threading.Event()
    sink = CollectingSink(on_alert=lambda _: stop.set())  # SIGTERM arrives while alerting
    client = FakeSqs([[_body(1), _body(2), _body(3)], [_body(4)]])
    consumer = QueueConsumer(Monitor(sql_state, sink), client, "q", stop=stop)
    stats = consumer.run()
    assert client.deleted == ["r0-0"]
    assert client.released == ["r0-1", "r0-2"]
    assert stats.released == 2
    assert len(client.batches) == 1  # no new receive after the stop request
