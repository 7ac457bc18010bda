"""Reading KMS keys in one account and region: the key list and aliases (once per region),
then at most four calls per key — DescribeKey, GetKeyPolicy, ListGrants, ListResourceTags.

Every call that fails after botocore's retries becomes a `ReadError` on the key; nothing
here judges anything."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from kmsguard.aws.accounts import read_error
from kmsguard.aws.ratelimit import TokenBucket
from kmsguard.aws.result import ReadError

AWS_ALIAS_PREFIX = "alias/aws/"


class CallCounter:
    """Counts logical API calls per operation and HTTP requests (retries included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.requests = 0

    def on_call(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    def on_request(self) -> None:
        with self._lock:
            self.requests += 1


def instrument(client: Any, counter: CallCounter, bucket: TokenBucket | None) -> Any:
    """Count every call and hold every HTTP attempt (retries too) to the region's bucket."""

    def before_parameter_build(model: Any = None, **_: Any) -> None:
        counter.on_call(str(model.name) if model is not None else "?")

    def before_send(**_: Any) -> None:
        if bucket is not None:
            bucket.acquire()
        counter.on_request()

    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-parameter-build.{service}", before_parameter_build)
    client.meta.events.register(f"before-send.{service}", before_send)
    return client


def paginate(client: Any, operation: str, result_key: str, **params: Any) -> list[Any]:
    """Every item of a paginated KMS list (botocore follows Marker/NextMarker/Truncated)."""
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**params):
        items.extend(page.get(result_key, []))
    return items


@dataclass(frozen=True, slots=True)
class KeyRef:
    key_id: str
    arn: str
    aliases: tuple[str, ...] = ()

    @property
    def aws_managed_alias(self) -> str | None:
        return next((a for a in self.aliases if a.startswith(AWS_ALIAS_PREFIX)), None)


def list_region(client: Any) -> tuple[KeyRef, ...]:
    """Every key of the region with its aliases: one ListAliases and one ListKeys walk."""
    aliases: dict[str, list[str]] = {}
    for alias in paginate(client, "list_aliases", "Aliases"):
        target = alias.get("TargetKeyId")
        if target:
            aliases.setdefault(str(target), []).append(str(alias["AliasName"]))
    return tuple(
        KeyRef(
            key_id=str(k["KeyId"]),
            arn=str(k["KeyArn"]),
            aliases=tuple(sorted(aliases.get(str(k["KeyId"]), ()))),
        )
        for k in paginate(client, "list_keys", "Keys")
    )


@dataclass(frozen=True, slots=True)
class RawKey:
    """What the API returned for one key; None where a call failed (see `errors`)."""

    ref: KeyRef
    metadata: dict[str, Any] | None
    policy: str | None
    grants: tuple[dict[str, Any], ...] | None
    tags: tuple[tuple[str, str], ...] | None
    errors: tuple[ReadError, ...]

    @property
    def aws_managed(self) -> bool:
        return self.metadata is not None and self.metadata.get("KeyManager") == "AWS"


def read_key(client: Any, ref: KeyRef) -> RawKey:
    """DescribeKey, then (for customer managed keys) the policy, grants and tags."""
    errors: list[ReadError] = []

    def attempt(operation: str, fn: Any) -> Any:
        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            errors.append(read_error(operation, exc))
            return None

    described = attempt("DescribeKey", lambda: client.describe_key(KeyId=ref.key_id))
    metadata = dict(described["KeyMetadata"]) if described is not None else None
    if metadata is not None and metadata.get("KeyManager") == "AWS":
        return RawKey(ref, metadata, None, None, None, tuple(errors))
    policy_resp = attempt(
        "GetKeyPolicy", lambda: client.get_key_policy(KeyId=ref.key_id, PolicyName="default")
    )
    grants = attempt(
        "ListGrants", lambda: paginate(client, "list_grants", "Grants", KeyId=ref.key_id)
    )
    tags = attempt(
        "ListResourceTags",
        lambda: paginate(client, "list_resource_tags", "Tags", KeyId=ref.key_id),
    )
    return RawKey(
        ref=ref,
        metadata=metadata,
        policy=str(policy_resp["Policy"]) if policy_resp is not None else None,
        grants=tuple(dict(g) for g in grants) if grants is not None else None,
        tags=(
            tuple((str(t["TagKey"]), str(t.get("TagValue", ""))) for t in tags)
            if tags is not None
            else None
        ),
        errors=tuple(errors),
    )
