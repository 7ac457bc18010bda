"""The evidence a remediation is judged against: the callers observed using a key (from
CloudTrail usage), typed, with the request contexts each stands for.

Both the planner (`plan`) and the verifier (`verify`) take these values as input; each
reads them in its own way (`plan_support.replay_requests`, `verify._requests`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kmsguard.model import PrincipalType
from kmsguard.policy.actions import canonical_action

_ASSUMED_ROLE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):sts::(\d{12}):assumed-role/([^/]+)/.+$")
ROOT_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):root$")

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
        return self.principal_type == PrincipalType.SERVICE.condition_value

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
    """The `aws:PrincipalType` of a caller from any spelling of its type (or its form)."""
    return PrincipalType.read(value, principal).condition_value


def observed_actions(name: str) -> tuple[str, ...]:
    """The `kms:` actions one observed call stands for: CloudTrail's `ReEncrypt` event is
    both halves of the permission (`kms:ReEncryptFrom`, `kms:ReEncryptTo`)."""
    bare = name.split(":", 1)[-1]
    names = ("ReEncryptFrom", "ReEncryptTo") if bare == "ReEncrypt" else (bare,)
    return tuple(normalize_action(n) for n in names)
