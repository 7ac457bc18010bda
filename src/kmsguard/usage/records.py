"""CloudTrail record shapes (only the fields usage analysis needs) and their normalization:
`userIdentity` -> the principal a key policy would name, the key ARNs a record is about, the
`kms:ViaService` form of the calling service."""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from kmsguard.arn import account_of
from kmsguard.model import PrincipalType

KMS_SOURCE = "kms.amazonaws.com"

#: Error codes that mean "not authorized" (kept apart as denied attempts).
DENIAL_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
)


class Resource(msgspec.Struct, frozen=True):
    arn: str | None = msgspec.field(default=None, name="ARN")
    account_id: str | None = msgspec.field(default=None, name="accountId")
    type: str | None = None


class SessionIssuer(msgspec.Struct, frozen=True):
    type: str | None = None
    principal_id: str | None = msgspec.field(default=None, name="principalId")
    arn: str | None = None
    account_id: str | None = msgspec.field(default=None, name="accountId")


class SessionContext(msgspec.Struct, frozen=True):
    session_issuer: SessionIssuer | None = msgspec.field(default=None, name="sessionIssuer")


class OnBehalfOf(msgspec.Struct, frozen=True):
    user_id: str | None = msgspec.field(default=None, name="userId")
    identity_store_arn: str | None = msgspec.field(default=None, name="identityStoreArn")


class UserIdentity(msgspec.Struct, frozen=True):
    type: str | None = None
    principal_id: str | None = msgspec.field(default=None, name="principalId")
    arn: str | None = None
    account_id: str | None = msgspec.field(default=None, name="accountId")
    invoked_by: str | None = msgspec.field(default=None, name="invokedBy")
    session_context: SessionContext | None = msgspec.field(default=None, name="sessionContext")
    on_behalf_of: OnBehalfOf | None = msgspec.field(default=None, name="onBehalfOf")


_NULL = msgspec.Raw(b"null")


class Record(msgspec.Struct, gc=False):
    """One CloudTrail record; nested objects stay raw until the record is known to matter."""

    event_source: str | None = msgspec.field(default=None, name="eventSource")
    event_name: str | None = msgspec.field(default=None, name="eventName")
    event_time: str | None = msgspec.field(default=None, name="eventTime")
    event_type: str | None = msgspec.field(default=None, name="eventType")
    aws_region: str | None = msgspec.field(default=None, name="awsRegion")
    error_code: str | None = msgspec.field(default=None, name="errorCode")
    source_ip: str | None = msgspec.field(default=None, name="sourceIPAddress")
    recipient_account_id: str | None = msgspec.field(default=None, name="recipientAccountId")
    vpc_endpoint_id: str | None = msgspec.field(default=None, name="vpcEndpointId")
    user_identity: msgspec.Raw = msgspec.field(default=_NULL, name="userIdentity")
    resources: msgspec.Raw = _NULL
    request_parameters: msgspec.Raw = msgspec.field(default=_NULL, name="requestParameters")


class Document(Record, gc=False):
    """Any accepted top-level shape: `{"Records": [...]}`, an EventBridge envelope
    (`detail`), or one bare record."""

    records: list[Record] | None = msgspec.field(default=None, name="Records")
    detail: Record | None = None
    detail_type: str | None = msgspec.field(default=None, name="detail-type")


class KmsParams(msgspec.Struct, frozen=True, gc=False):
    """The `requestParameters` fields usage analysis reads; any JSON type is accepted (other
    fields, such as a policy document, are skipped without being built)."""

    key_id: Any = msgspec.field(default=None, name="keyId")
    encryption_context: Any = msgspec.field(default=None, name="encryptionContext")
    source_encryption_context: Any = msgspec.field(default=None, name="sourceEncryptionContext")
    destination_encryption_context: Any = msgspec.field(
        default=None, name="destinationEncryptionContext"
    )


NO_PARAMS = KmsParams()
_identity_decoder = msgspec.json.Decoder(UserIdentity | None)
_resources_decoder = msgspec.json.Decoder(list[Resource] | None)
PARAMS_DECODER = msgspec.json.Decoder(KmsParams | None)


def decode_identity(raw: msgspec.Raw) -> UserIdentity | None:
    try:
        return _identity_decoder.decode(raw)
    except msgspec.ValidationError:
        return None


def decode_resources(raw: msgspec.Raw) -> list[Resource]:
    try:
        return _resources_decoder.decode(raw) or []
    except msgspec.ValidationError:
        return []


# ---------------------------------------------------------------------------------------------
# principals


class Principal(NamedTuple):
    """A caller as a key-policy statement would name it."""

    name: str  # role/user/root ARN, or a service principal such as s3.amazonaws.com
    type: PrincipalType
    account: str | None  # None for service principals
    unique_id: str | None  # AROA.../AIDA... when known


def arn_account(arn: str | None) -> str | None:
    return account_of(arn)


def unique_id(principal_id: str | None) -> str | None:
    """`AROA...:session` -> `AROA...`: the stable id of the role or user behind a session.
    A federated user's `<account>:<name>` stays whole (the account alone is the root's)."""
    if not principal_id:
        return None
    head = principal_id.split(":", 1)[0]
    return principal_id if head.isdigit() else head


def _role_from_session(arn: str) -> str:
    # arn:aws:sts::123:assumed-role/NAME/SESSION -> arn:aws:iam::123:role/NAME. The path is
    # lost; only used when sessionIssuer is missing.
    head, _, rest = arn.partition(":assumed-role/")
    name = rest.split("/", 1)[0]
    return head.replace(":sts:", ":iam:", 1) + ":role/" + name


def _issuer_principal(issuer: SessionIssuer, account: str | None) -> Principal | None:
    if not issuer.arn:
        return None
    acct = issuer.account_id or arn_account(issuer.arn) or account
    if issuer.type == "Root" or issuer.arn.endswith(":root"):
        return Principal(issuer.arn, PrincipalType.ROOT, acct, issuer.principal_id)
    if issuer.type == "IAMUser" or ":user/" in issuer.arn:
        return Principal(issuer.arn, PrincipalType.IAM_USER, acct, issuer.principal_id)
    return Principal(issuer.arn, PrincipalType.ROLE, acct, issuer.principal_id)


def resolve_principal(ui: UserIdentity | None, partition: str = "aws") -> Principal | None:
    """The principal a key-policy statement would name for this caller, or None (no identity)."""
    if ui is None:
        return None
    account = ui.account_id or arn_account(ui.arn)
    issuer = ui.session_context.session_issuer if ui.session_context else None
    kind = ui.type
    if kind in ("AssumedRole", "Role", "FederatedUser") or (
        kind == "IAMUser" and ui.arn and ":assumed-role/" in ui.arn
    ):
        # The issuer's ARN keeps the role path (service-role/, aws-reserved/sso...); the
        # session ARN does not. FederatedUser -> the IAM user (or root) behind the token.
        if issuer is not None:
            found = _issuer_principal(issuer, account)
            if found is not None:
                return found
        if ui.arn and ":assumed-role/" in ui.arn:
            role = _role_from_session(ui.arn)
            return Principal(role, PrincipalType.ROLE, account, unique_id(ui.principal_id))
        if ui.arn:
            return Principal(ui.arn, PrincipalType.UNKNOWN, account, unique_id(ui.principal_id))
        return None
    if kind == "IAMUser":
        if ui.arn:
            return Principal(ui.arn, PrincipalType.IAM_USER, account, ui.principal_id)
        return None
    if kind == "Root":
        arn = ui.arn or (f"arn:{partition}:iam::{account}:root" if account else None)
        return Principal(arn, PrincipalType.ROOT, account, ui.principal_id) if arn else None
    if kind == "AWSService":
        if ui.invoked_by:
            return Principal(ui.invoked_by, PrincipalType.SERVICE, None, None)
        return None
    if kind == "AWSAccount":
        # The owner's copy of a cross-account call: only the account and principalId. Named as
        # the account until joined with the caller's copy (same principalId).
        if not account:
            return None
        return Principal(
            f"arn:{partition}:iam::{account}:root",
            PrincipalType.ACCOUNT,
            account,
            unique_id(ui.principal_id),
        )
    if kind == "IdentityCenterUser" and ui.on_behalf_of and ui.on_behalf_of.user_id:
        user = ui.on_behalf_of.user_id
        return Principal(user, PrincipalType.UNKNOWN, account, user)
    if ui.arn:
        return Principal(ui.arn, PrincipalType.UNKNOWN, account, ui.principal_id)
    if ui.invoked_by and ui.invoked_by != "AWS Internal":
        return Principal(ui.invoked_by, PrincipalType.SERVICE, None, None)
    return None


def identity_of(ui: UserIdentity | None) -> tuple[str, Principal] | None:
    """(unique principal id, principal) for a caller copy that names its caller fully; used
    to resolve `AWSAccount` callers seen in the key owner's copy."""
    if ui is None or ui.type == "AWSAccount":
        return None
    found = resolve_principal(ui)
    uid = unique_id(ui.principal_id)
    if found is None or uid is None or found.type in (PrincipalType.SERVICE, PrincipalType.ACCOUNT):
        return None
    return uid, found


# ---------------------------------------------------------------------------------------------
# keys and services


def is_key_arn(arn: str | None) -> bool:
    return arn is not None and ":kms:" in arn and ":key/" in arn


def key_arns(
    resources: list[Resource], key_id: object, region: str | None, account: str | None
) -> list[str]:
    """Key ARNs named by a record: `resources[].ARN` (any `...:kms:...:key/...`, since several
    records omit `type`), else `requestParameters.keyId` resolved against the record's
    region and receiving account. Aliases cannot be resolved from a record and are dropped."""
    found: list[str] = []
    for r in resources:
        arn = r.arn
        if arn is not None and is_key_arn(arn) and arn not in found:
            found.append(arn)
    if found:
        return found
    if not isinstance(key_id, str) or not key_id:
        return []
    if key_id.startswith("arn:"):
        return [key_id] if ":key/" in key_id else []
    if key_id.startswith("alias/") or not region or not account:
        return []
    return [f"arn:aws:kms:{region}:{account}:key/{key_id}"]


def via_service(
    invoked_by: str | None, source_ip: str | None, region: str | None
) -> str | None:
    """The `kms:ViaService` value for a call an AWS service made on a principal's behalf:
    `s3.amazonaws.com` in `us-east-1` -> `s3.us-east-1.amazonaws.com`."""
    name = invoked_by if invoked_by and invoked_by.endswith(".amazonaws.com") else None
    if name is None and source_ip and source_ip.endswith(".amazonaws.com"):
        name = source_ip
    if name is None:
        return None
    service = name[: -len(".amazonaws.com")]
    if "." in service or not region:
        return name  # already regional (or no region to add)
    return f"{service}.{region}.amazonaws.com"


def key_matches(arn: str, wanted: frozenset[str]) -> bool:
    """`wanted` holds full key ARNs and bare key ids."""
    if arn in wanted:
        return True
    return arn.rsplit("/", 1)[-1] in wanted
