"""`MonitorState` in one DynamoDB table, for stateless functions running many at once.

One partition key `pk` (string): `event#<eventID>` items hold a claim (status, claim time,
alerts; expired by the table's TTL on `expires_at`), `key#<key ARN>` items hold a key's
state and version. A claim is one `TransactWriteItems`: the event item only if absent, the
key item only if its version is still the one read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .alerts import Alert
from .events import parse_time
from .state import Claim, KeyState, StateError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: Event claims are kept this long (the table's TTL removes them later); longer than any
#: redelivery of the same event (SQS retention, Lambda retries, CloudTrail duplicates).
EVENT_RETENTION = timedelta(days=14)

PENDING = "pending"
DELIVERED = "delivered"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoDbMonitorState:
    """`MonitorState` on a DynamoDB table with a string partition key `pk`."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _get(self, pk: str) -> dict[str, Any] | None:
        try:
            found = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise StateError(f"cannot read the monitor table `{self._table}`: {exc}") from exc
        item = found.get("Item")
        return dict(item) if item is not None else None

    def seen(self, event_id: str) -> bool:
        return self._get(f"event#{event_id}") is not None

    def key(self, key_arn: str) -> KeyState | None:
        item = self._get(f"key#{key_arn}")
        if item is None:
            return None
        return KeyState.from_json(
            key_arn, int(item["version"]["N"]), json.loads(item["state"]["S"])
        )

    def record(
        self,
        event_id: str,
        new: KeyState | None,
        alerts: Sequence[Alert],
        *,
        expected_version: int,
        now: datetime,
    ) -> Claim:
        event_item: dict[str, Any] = {
            "pk": {"S": f"event#{event_id}"},
            "status": {"S": PENDING if alerts else DELIVERED},
            "claimed_at": {"S": now.isoformat()},
            "alerts": {"S": json.dumps([a.to_json() for a in alerts])},
            "expires_at": {"N": str(int((now + EVENT_RETENTION).timestamp()))},
        }
        if new is not None:
            event_item["key_arn"] = {"S": new.key_arn}
        put_event = {
            "Put": {
                "TableName": self._table,
                "Item": event_item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        items: list[Any] = [put_event]
        if new is not None:
            key_item = {
                "pk": {"S": f"key#{new.key_arn}"},
                "version": {"N": str(expected_version + 1)},
                "verdict": {"S": new.verdict},
                "state": {"S": json.dumps(new.to_json())},
                "updated_at": {"S": now.isoformat()},
            }
            if expected_version == 0:
                condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            else:
                condition = {
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
                }
            items.append({"Put": {"TableName": self._table, "Item": key_item, **condition}})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise StateError(
                    f"cannot write the monitor table `{self._table}`: {_code(exc)}"
                ) from exc
            return self._cancelled(exc, event_id)
        except BotoCoreError as exc:
            raise StateError(f"cannot write the monitor table `{self._table}`: {exc}") from exc
        return Claim.CLAIMED

    def _cancelled(self, exc: ClientError, event_id: str) -> Claim:
        reasons = exc.response.get("CancellationReasons") or []
        codes = [str(r.get("Code", "")) for r in reasons]
        if codes and codes[0] == "ConditionalCheckFailed":
            return Claim.DUPLICATE
        if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
            return Claim.CONFLICT
        # no reasons given: decide from what is stored now
        return Claim.DUPLICATE if self.seen(event_id) else Claim.CONFLICT

    def delivered(self, event_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"event#{event_id}"}},
                UpdateExpression="SET #s = :d",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":d": {"S": DELIVERED}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise StateError(f"cannot write the monitor table `{self._table}`: {exc}") from exc

    def reclaim(self, event_id: str, *, now: datetime, lease: timedelta) -> tuple[Alert, ...]:
        item = self._get(f"event#{event_id}")
        if item is None or item.get("status", {}).get("S") != PENDING:
            return ()
        claimed_at = str(item["claimed_at"]["S"])
        if now - parse_time(claimed_at) < lease:
            return ()
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"event#{event_id}"}},
                UpdateExpression="SET claimed_at = :now",
                ConditionExpression="#s = :p AND claimed_at = :old",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":now": {"S": now.isoformat()},
                    ":p": {"S": PENDING},
                    ":old": {"S": claimed_at},
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return ()  # another handler reclaimed it first
            raise StateError(f"cannot write the monitor table `{self._table}`: {exc}") from exc
        except BotoCoreError as exc:
            raise StateError(f"cannot write the monitor table `{self._table}`: {exc}") from exc
        return tuple(Alert.from_json(a) for a in json.loads(item["alerts"]["S"]))


def create_table(client: DynamoDBClient, table: str) -> None:
    """Create the table (on-demand, TTL on `expires_at`), as deploy/monitor.yaml does."""
    client.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table)
    client.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
