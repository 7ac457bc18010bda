"""The evidence a remediation is judged against: the callers observed using a key (from
CloudTrail usage), typed, with the request contexts each stands for.

Both the planner (`plan`) and the verifier (`verify`) take these values as input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kmsguard.model import TrustZone
from kmsguard.policy.actions import canonical_action
from kmsguard.policy.evaluator import Request

_ASSUMED_ROLE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):sts::(\d{12}):assumed-role/([^/]+)/.+$")
ROOT_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):root$")
ACCOUNT_ID = re.compile(r"^\d{12}$")

#: CloudTrail `userIdentity.type` (or an `aws:PrincipalType` value) -> `aws:PrincipalType`
_PRINCIPAL_TYPES = {
    "root": "Account",
    "account": "Account",
    "iamuser": "User",
    "user": "User",
    "assumedrole": "AssumedRole",
    "role": "AssumedRole",
    "federateduser": "FederatedUser",
    "awsservice": "AWSService",
    "service": "AWSService",
    "iam-user": "User",
}


@dataclass(frozen=True, slots=True)
class ObservedRequest:
    """One distinct successful request context of a caller (when the usage report has them)."""

    action: str  # kms:Action
    via_service: str | None = None
    vpc_endpoint: str | None = None
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    count: int = 1

    def to_json(self) -> dict[str, object]:
        return {
            "action": self.action,
            "via_service": self.via_service,
            "vpc_endpoint": self.vpc_endpoint,
            "context": {k: list(v) for k, v in self.context},
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class ObservedCaller:
    """One principal that successfully called one key, aggregated over the usage window.

    `principal` is an IAM ARN (roles in their `arn:aws:iam::A:role/name` form), an account
    root ARN, or a service principal such as `s3.amazonaws.com`; for a service, `account`
    is the account it acted for (the `aws:SourceAccount` of its calls).
    """

    principal: str
    account: str
    actions: tuple[tuple[str, int], ...]  # (kms:Action, successful calls), sorted
    principal_type: str = "AssumedRole"  # an aws:PrincipalType value, or AWSService
    via_services: tuple[str, ...] = ()
    vpc_endpoints: tuple[str, ...] = ()
    org_id: str | None = None
    #: other condition keys seen on all calls, e.g. kms:EncryptionContext:app
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the distinct request contexts, when known; otherwise every combination of
    #: `via_services` (or a direct call) and `vpc_endpoints` (or none) is replayed
    requests: tuple[ObservedRequest, ...] = ()

    @property
    def is_service(self) -> bool:
        return self.principal_type == "AWSService"

    @property
    def is_root(self) -> bool:
        return ROOT_ARN.match(self.principal) is not None

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(a for a, _ in self.actions)

    def calls(self, action: str) -> int:
        return sum(n for a, n in self.actions if a == action)

    def to_json(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "principal_type": self.principal_type,
            "account": self.account,
            "org_id": self.org_id,
            "actions": dict(self.actions),
            "via_services": list(self.via_services),
            "vpc_endpoints": list(self.vpc_endpoints),
            "context": {k: list(v) for k, v in self.context},
            "requests": [r.to_json() for r in self.requests],
        }


def normalize_action(name: str) -> str:
    """`Decrypt`, `kms:decrypt` -> `kms:Decrypt` (names outside the catalog keep `kms:`)."""
    bare = name.split(":", 1)[1] if name.lower().startswith("kms:") else name
    return canonical_action(f"kms:{bare}") or f"kms:{bare}"


def normalize_principal(principal: str) -> str:
    """An STS assumed-role session ARN becomes the role ARN a key policy can name."""
    m = _ASSUMED_ROLE.match(principal)
    if m:
        return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}"
    return principal


def normalize_principal_type(value: str | None, principal: str) -> str:
    if value:
        found = _PRINCIPAL_TYPES.get(value.replace("_", "").replace("-", "").lower())
        if found:
            return found
    if principal.endswith(".amazonaws.com") and not principal.startswith("arn:"):
        return "AWSService"
    if ROOT_ARN.match(principal):
        return "Account"
    if ":user/" in principal:
        return "User"
    return "AssumedRole"


def replay_requests(caller: ObservedCaller, action: str) -> tuple[Request, ...]:
    """The request contexts one observed (caller, action) stands for: its distinct request
    shapes when known, else one per service it came through (or a direct call) and per VPC
    endpoint it came from (or none)."""
    base: dict[str, list[str]] = {k: list(v) for k, v in caller.context}
    if caller.is_service:
        base.setdefault("aws:SourceAccount", [caller.account])
    shapes = [r for r in caller.requests if r.action == action]
    if not shapes:
        shapes = [
            ObservedRequest(action, via, vpce)
            for via in caller.via_services or (None,)
            for vpce in caller.vpc_endpoints or (None,)
        ]
    requests = []
    for shape in shapes:
        ctx = {k: list(v) for k, v in base.items()}
        ctx.update({k: list(v) for k, v in shape.context})
        if shape.via_service is not None:
            ctx["kms:ViaService"] = [shape.via_service]
        if shape.vpc_endpoint is not None:
            ctx["aws:SourceVpce"] = [shape.vpc_endpoint]
        requests.append(
            Request(
                principal=caller.principal,
                account=caller.account,
                action=action,
                principal_type=caller.principal_type,
                context=ctx,
                org_id=caller.org_id,
                service=caller.principal if caller.is_service else None,
            )
        )
    return tuple(requests)


def caller_trusted(caller: ObservedCaller, zone: TrustZone, keep_external: Iterable[str]) -> bool:
    """Inside the zone of trust, or an outside account the user chose to keep."""
    return (
        zone.contains_account(caller.account)
        or caller.account in set(keep_external)
        or zone.contains_org(caller.org_id)
    )

