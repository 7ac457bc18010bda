"""Reading KMS keys in one account and region: the key list and aliases (once per region),
then at most four calls per key — DescribeKey, GetKeyPolicy, ListGrants, ListResourceTags.

Every call that fails after botocore's retries becomes a `ReadError` on the key; nothing
here judges anything."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
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


class DeadlineExceededError(Exception):
    """The scan's --deadline passed: no further request is sent."""


def instrument(
    client: Any,
    counter: CallCounter,
    bucket: TokenBucket | None,
    stop: threading.Event | None = None,
) -> Any:
    """Count every call and hold every HTTP attempt (retries too) to the region's bucket;
    once `stop` is set, no attempt is sent (retries of a hanging call end there)."""

    def before_parameter_build(model: Any = None, **_: Any) -> None:
        counter.on_call(str(model.name) if model is not None else "?")

    def before_send(**_: Any) -> None:
        if stop is not None and stop.is_set():
            raise DeadlineExceededError("the scan's deadline passed")
        if bucket is not None:
            bucket.acquire()
        if stop is not None and stop.is_set():
            raise DeadlineExceededError("the scan's deadline passed")
        counter.on_request()

    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-parameter-build.{service}", before_parameter_build)
    client.meta.events.register(f"before-send.{service}", before_send)
    return client


class MalformedResponseError(Exception):
    """An API answer (HTTP 200) the scanner cannot read: not JSON, or without the fields the
    operation always returns. What it should have listed is unknown: never "no keys"."""

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"{operation}: {detail}")
        self.operation = operation
        self.detail = detail


def _api_name(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


def paginate(
    client: Any, operation: str, result_key: str, *, fields: tuple[str, ...] = (), **params: Any
) -> list[Any]:
    """Every item of a paginated KMS list (botocore follows Marker/NextMarker/Truncated).
    A page without its list, or an item without `fields` as strings, raises
    MalformedResponseError (botocore turns a body that is not JSON into `{"message": ...}`)."""
    items: list[Any] = []
    for page in _pages(client, operation, params):
        found = page.get(result_key) if isinstance(page, dict) else None
        if not isinstance(found, list):
            raise MalformedResponseError(
                _api_name(operation), f"the answer has no `{result_key}` list: {_peek(page)}"
            )
        for item in found:
            if not isinstance(item, dict) or any(
                not isinstance(item.get(f), str) for f in fields
            ):
                raise MalformedResponseError(
                    _api_name(operation),
                    f"an item of `{result_key}` lacks {', '.join(fields)}: {_peek(item)}",
                )
        items.extend(found)
    return items


def _pages(client: Any, operation: str, params: dict[str, Any]) -> Iterator[Any]:
    pages = iter(client.get_paginator(operation).paginate(**params))
    while True:
        try:
            page = next(pages)
        except StopIteration:
            return
        except (ClientError, BotoCoreError, DeadlineExceededError):
            raise
        except Exception as exc:  # botocore's parser on a hostile body
            raise MalformedResponseError(
                _api_name(operation), f"unreadable answer ({type(exc).__name__}: {exc})"
            ) from None
        yield page


def _peek(value: Any) -> str:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "ResponseMetadata"}
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def expect(operation: str, response: Any, field: str, kind: type) -> Any:
    """`response[field]`, which must be a `kind`, else MalformedResponseError."""
    value = response.get(field) if isinstance(response, dict) else None
    if not isinstance(value, kind):
        raise MalformedResponseError(operation, f"the answer has no `{field}`: {_peek(response)}")
    return value


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
    for alias in paginate(client, "list_aliases", "Aliases", fields=("AliasName",)):
        target = alias.get("TargetKeyId")
        if target:
            aliases.setdefault(str(target), []).append(str(alias["AliasName"]))
    return tuple(
        KeyRef(
            key_id=str(k["KeyId"]),
            arn=str(k["KeyArn"]),
            aliases=tuple(sorted(aliases.get(str(k["KeyId"]), ()))),
        )
        for k in paginate(client, "list_keys", "Keys", fields=("KeyId", "KeyArn"))
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
        except MalformedResponseError as exc:
            errors.append(ReadError(operation, "MalformedResponse", exc.detail))
        except DeadlineExceededError:
            raise
        except Exception as exc:  # botocore's parser on a hostile body
            detail = f"unreadable answer ({type(exc).__name__}: {exc})"
            errors.append(ReadError(operation, "MalformedResponse", detail))
        return None

    described = attempt(
        "DescribeKey",
        lambda: expect("DescribeKey", client.describe_key(KeyId=ref.key_id), "KeyMetadata", dict),
    )
    metadata = dict(described) if described is not None else None
    if metadata is not None and metadata.get("KeyManager") == "AWS":
        return RawKey(ref, metadata, None, None, None, tuple(errors))
    policy = attempt(
        "GetKeyPolicy",
        lambda: expect(
            "GetKeyPolicy",
            client.get_key_policy(KeyId=ref.key_id, PolicyName="default"),
            "Policy",
            str,
        ),
    )
    grants = attempt(
        "ListGrants", lambda: paginate(client, "list_grants", "Grants", KeyId=ref.key_id)
    )
    tags = attempt(
        "ListResourceTags",
        lambda: paginate(
            client, "list_resource_tags", "Tags", fields=("TagKey",), KeyId=ref.key_id
        ),
    )
    return RawKey(
        ref=ref,
        metadata=metadata,
        policy=policy,
        grants=tuple(dict(g) for g in grants) if grants is not None else None,
        tags=(
            tuple((str(t["TagKey"]), str(t.get("TagValue", ""))) for t in tags)
            if tags is not None
            else None
        ),
        errors=tuple(errors),
    )
