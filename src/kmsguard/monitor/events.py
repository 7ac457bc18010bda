"""Reading one KMS CloudTrail event, bare or in its EventBridge envelope, into a typed
`KmsEvent`; anything else is `Ignored` (with why) or an `EventError` naming the problem."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import msgspec

from kmsguard.arn import Arn, parse_arn, root_arn
from kmsguard.errors import InputError
from kmsguard.policy import Grant
from kmsguard.usage.records import (
    KMS_SOURCE,
    Resource,
    UserIdentity,
    arn_account,
    key_arns,
    resolve_principal,
)

from .alerts import Actor

ENVELOPE_DETAIL_TYPE = "AWS API Call via CloudTrail"

#: The KMS calls that can change who may use a key, or who owns it.
MONITORED_EVENTS = frozenset(
    {
        "CreateKey",
        "PutKeyPolicy",
        "ReplicateKey",
        "CreateGrant",
        "RetireGrant",
        "RevokeGrant",
        "TagResource",
        "UntagResource",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "EnableKey",
        "DisableKey",
    }
)

#: The largest event kmsguard reads (CloudTrail omits request parameters over 100 KB).
MAX_EVENT_BYTES = 1024 * 1024


class EventError(InputError):
    """An event that cannot be read: not JSON, not a CloudTrail record, a missing field."""

    def __init__(self, reason: str, *, event_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed event that cannot change a key's exposure (other service, a read-only
    call, a call that failed)."""

    event_id: str | None
    event_name: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class KmsEvent:
    """One KMS call that may change a key's verdict, owner tag or state."""

    event_id: str
    event_name: str
    event_time: datetime
    event_time_text: str
    key_arn: str  # for ReplicateKey: the new replica
    account: str
    region: str
    actor: Actor
    policy: str | None = None  # the policy the call set, when the event carries it
    default_policy: bool = False  # CreateKey / ReplicateKey without a policy: AWS's default
    grant: Grant | None = None  # CreateGrant
    grant_id: str | None = None  # RetireGrant / RevokeGrant (None: retired by token)
    tags_set: tuple[tuple[str, str], ...] = ()
    tags_removed: tuple[str, ...] = ()


def load_document(raw: bytes | str | Mapping[str, Any]) -> Any:
    """JSON text -> Python value; a mapping passes through."""
    if isinstance(raw, Mapping):
        return raw
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        raise EventError(f"the event is {size} bytes, over the {MAX_EVENT_BYTES}-byte limit")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"not JSON: {exc}") from None


def records_of(doc: Any) -> list[Any]:
    """The records of a document: a CloudTrail log file's `Records`, or the document itself."""
    if isinstance(doc, Mapping) and isinstance(doc.get("Records"), list):
        return list(doc["Records"])
    return [doc]


def parse_event(raw: bytes | str | Mapping[str, Any]) -> KmsEvent | Ignored:
    """Read one event (a bare CloudTrail record or an EventBridge envelope).

    Raises `EventError` for anything that is not a readable CloudTrail record."""
    doc = load_document(raw)
    if not isinstance(doc, Mapping):
        raise EventError(f"expected a JSON object, got {type(doc).__name__}")
    if "detail-type" in doc or "detail" in doc:
        detail_type = doc.get("detail-type")
        if detail_type != ENVELOPE_DETAIL_TYPE:
            return Ignored(None, None, f"EventBridge detail-type `{detail_type}`")
        detail = doc.get("detail")
        if not isinstance(detail, Mapping):
            raise EventError("the EventBridge envelope has no `detail` object")
        doc = detail
    return _parse_record(doc)


def _text(doc: Mapping[str, Any], name: str, event_id: str | None) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise EventError(f"no `{name}` in the record", event_id=event_id)
    return value


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_record(doc: Mapping[str, Any]) -> KmsEvent | Ignored:
    raw_id = doc.get("eventID")
    event_id = raw_id if isinstance(raw_id, str) and raw_id else None
    if "eventName" not in doc and "eventSource" not in doc:
        raise EventError("not a CloudTrail record (no eventName, no eventSource)")
    name = _text(doc, "eventName", event_id)
    if event_id is None:
        raise EventError(f"the {name} record has no `eventID`")
    source = doc.get("eventSource")
    if source != KMS_SOURCE:
        return Ignored(event_id, name, f"event source `{source}`")
    if name not in MONITORED_EVENTS:
        return Ignored(event_id, name, f"{name} cannot change a key's exposure")
    if doc.get("errorCode"):
        return Ignored(event_id, name, f"the call failed ({doc.get('errorCode')}): nothing changed")
    time_text = _text(doc, "eventTime", event_id)
    try:
        event_time = parse_time(time_text)
    except ValueError:
        raise EventError(f"`eventTime` `{time_text}` is not a time", event_id=event_id) from None
    params = _mapping(doc.get("requestParameters"), "requestParameters", event_id)
    response = _mapping(doc.get("responseElements"), "responseElements", event_id)
    key_arn, arn = _key_arn(doc, name, params, response, event_id)
    fields: dict[str, Any] = {}
    if name in ("CreateKey", "PutKeyPolicy", "ReplicateKey"):
        policy = params.get("policy")
        if policy is None and name == "ReplicateKey":
            policy = response.get("replicaPolicy")
        if policy is not None:
            fields["policy"] = _policy_text(policy, event_id)
        elif name != "PutKeyPolicy":
            fields["default_policy"] = True
    if name in ("CreateKey", "ReplicateKey", "TagResource"):
        fields["tags_set"] = _tags(params.get("tags"), event_id)
    if name == "UntagResource":
        keys = params.get("tagKeys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise EventError("UntagResource without a `tagKeys` list", event_id=event_id)
        fields["tags_removed"] = tuple(keys)
    if name == "CreateGrant":
        fields["grant"] = _grant(params, response, event_id)
    if name in ("RetireGrant", "RevokeGrant"):
        grant_id = params.get("grantId")
        fields["grant_id"] = grant_id if isinstance(grant_id, str) and grant_id else None
    return KmsEvent(
        event_id=event_id,
        event_name=name,
        event_time=event_time,
        event_time_text=time_text,
        key_arn=key_arn,
        account=arn.account,
        region=arn.region,
        actor=actor_of(doc),
        **fields,
    )


def _mapping(value: Any, name: str, event_id: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventError(f"`{name}` is not an object", event_id=event_id)
    return value


def _policy_text(policy: Any, event_id: str) -> str:
    if isinstance(policy, str):
        return policy
    if isinstance(policy, Mapping):
        return json.dumps(policy)
    raise EventError(
        "`requestParameters.policy` is neither a string nor an object", event_id=event_id
    )


def _key_arn(
    doc: Mapping[str, Any],
    name: str,
    params: Mapping[str, Any],
    response: Mapping[str, Any],
    event_id: str,
) -> tuple[str, Arn]:
    found: str | None = None
    if name == "ReplicateKey":
        replica = response.get("replicaKeyMetadata")
        if isinstance(replica, Mapping) and isinstance(replica.get("arn"), str):
            found = replica["arn"]
        else:
            primary = _resource_arn(doc, params)
            region = params.get("replicaRegion")
            parsed = parse_arn(primary)
            if parsed is not None and isinstance(region, str) and region:
                found = str(replace(parsed, region=region))
        if found is None:
            raise EventError(
                "ReplicateKey names no replica (no responseElements.replicaKeyMetadata.arn, "
                "no replicaRegion)",
                event_id=event_id,
            )
    elif name == "CreateKey":
        meta = response.get("keyMetadata")
        if isinstance(meta, Mapping) and isinstance(meta.get("arn"), str):
            found = meta["arn"]
    found = found or _resource_arn(doc, params)
    arn = parse_arn(found)
    if found is None or arn is None or not _is_full_key_arn(arn):
        raise EventError(
            f"the {name} record names no key ARN (resources[].ARN or requestParameters.keyId)",
            event_id=event_id,
        )
    return found, arn


def _resource_arn(doc: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    try:
        resources = msgspec.convert(doc.get("resources") or [], list[Resource])
    except msgspec.ValidationError:
        resources = []
    region = doc.get("awsRegion")
    account = doc.get("recipientAccountId")
    found = key_arns(
        resources,
        params.get("keyId"),
        region if isinstance(region, str) else None,
        account if isinstance(account, str) else None,
    )
    return found[0] if found else None


def _is_full_key_arn(arn: Arn) -> bool:
    return (
        arn.service == "kms"
        and bool(arn.region)
        and arn.account.isdigit()
        and arn.resource_type == "key"
        and len(arn.resource) > 4
    )


def _tags(raw: Any, event_id: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise EventError("`requestParameters.tags` is not a list", event_id=event_id)
    out: list[tuple[str, str]] = []
    for tag in raw:
        if not isinstance(tag, Mapping) or not isinstance(tag.get("tagKey"), str):
            raise EventError("a tag without a `tagKey`", event_id=event_id)
        value = tag.get("tagValue")
        out.append((tag["tagKey"], value if isinstance(value, str) else ""))
    return tuple(out)


def _grant(params: Mapping[str, Any], response: Mapping[str, Any], event_id: str) -> Grant:
    grantee = params.get("granteePrincipal")
    if not isinstance(grantee, str) or not grantee:
        raise EventError("CreateGrant without a `granteePrincipal`", event_id=event_id)
    operations = params.get("operations") or []
    if not isinstance(operations, list) or not all(isinstance(o, str) for o in operations):
        raise EventError("CreateGrant `operations` is not a list of names", event_id=event_id)
    retiring = params.get("retiringPrincipal")
    constraints = params.get("constraints")
    grant_id = response.get("grantId")
    name = params.get("name")
    return Grant(
        grant_id=grant_id if isinstance(grant_id, str) and grant_id else f"event:{event_id}",
        grantee_principal=grantee,
        retiring_principal=retiring if isinstance(retiring, str) and retiring else None,
        operations=tuple(operations),
        constraints=_grant_constraints(constraints),
        name=name if isinstance(name, str) else None,
    )


def _grant_constraints(raw: Any) -> dict[str, Any] | None:
    """CloudTrail spells constraints in camelCase; the engine reads the API's names."""
    if not isinstance(raw, Mapping):
        return None
    names = {
        "encryptionContextEquals": "EncryptionContextEquals",
        "encryptionContextSubset": "EncryptionContextSubset",
    }
    return {names.get(str(k), str(k)): v for k, v in raw.items()}


def actor_of(doc: Mapping[str, Any]) -> Actor:
    raw = doc.get("userIdentity")
    try:
        identity = msgspec.convert(raw, UserIdentity | None) if raw is not None else None
    except msgspec.ValidationError:
        identity = None
    found = resolve_principal(identity) if identity is not None else None
    ip = doc.get("sourceIPAddress")
    agent = doc.get("userAgent")
    return Actor(
        principal=found[0] if found else None,
        principal_type=str(found[1]) if found else (identity.type if identity else None),
        account=(found[2] if found else None)
        or (identity.account_id if identity else None)
        or arn_account(identity.arn if identity else None),
        arn=identity.arn if identity else None,
        source_ip=ip if isinstance(ip, str) else None,
        user_agent=agent[:256] if isinstance(agent, str) else None,
    )


def default_key_policy(account: str, partition: str = "aws") -> str:
    """The policy AWS gives a key created without one: the account may manage it with IAM."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": root_arn(account, partition)},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
