"""Shared value types that flow from every source to every output: verdicts, severities,
witnesses, exposures, the zone of trust and the one `Finding` type."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

#: Stands for "the deploying account" when a template is scanned without `--account`.
#: Sources substitute it for `AWS::AccountId` / `aws_caller_identity`; the zone of trust
#: then contains it.
SELF_ACCOUNT = "000000000000"


class Verdict(StrEnum):
    PUBLIC = "public"
    CROSS_ACCOUNT = "cross-account"
    PRIVATE = "private"
    ERROR = "error"  # the policy could not be read or parsed: never a pass
    UNRESOLVED = "unresolved"  # an IaC value could not be resolved to a policy

    @property
    def rank(self) -> int:
        """How bad, for "the worst of several" (variants of a resource, a key's policy and
        grants): a known exposure beats not knowing, which beats a pass."""
        return _VERDICT_RANK[self]


_VERDICT_RANK = {
    Verdict.PUBLIC: 5,
    Verdict.CROSS_ACCOUNT: 4,
    Verdict.ERROR: 3,
    Verdict.UNRESOLVED: 2,
    Verdict.PRIVATE: 1,
}


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    NONE = "none"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def lowered(self) -> Severity:
        """One level lower (cross-account and network-restricted exposures)."""
        order = list(Severity)
        if self in (Severity.INFO, Severity.NONE):
            return self
        return order[order.index(self) + 1]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_SEVERITY_RANK = {
    Severity.CRITICAL: 5,
    Severity.HIGH: 4,
    Severity.MEDIUM: 3,
    Severity.LOW: 2,
    Severity.INFO: 1,
    Severity.NONE: 0,
}


def max_severity(severities: tuple[Severity, ...] | list[Severity]) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.NONE)


class ExposureKind(StrEnum):
    PUBLIC = "public"
    CROSS_ACCOUNT = "cross-account"
    CONFUSED_DEPUTY = "confused-deputy"  # service principal without a source condition
    GRANT = "grant"


class PrincipalType(StrEnum):
    """How a caller is named — the one spelling of principal types for usage reports, the
    remediation evidence and evaluated requests. The value is the usage report's spelling
    (`service` -> `{"Service": ...}` in a key policy, else `AWS`); `condition_value` is the
    `aws:PrincipalType` value a request carries."""

    IAM_USER = "iam-user"
    ROLE = "role"
    ROOT = "root"
    SERVICE = "service"
    ACCOUNT = "account"  # cross-account caller seen only as AWSAccount + principalId
    FEDERATED_USER = "federated-user"
    UNKNOWN = "unknown"

    @property
    def condition_value(self) -> str:
        """`aws:PrincipalType` (`AWSService` for a service principal)."""
        return _CONDITION_VALUES[self]

    @classmethod
    def read(cls, value: str | None, principal: str) -> PrincipalType:
        """From any spelling — the usage report's, CloudTrail's `userIdentity.type`, an
        `aws:PrincipalType` value — else (absent or `unknown`) from the principal's form."""
        if value:
            found = _SPELLINGS.get(value.replace("_", "").replace("-", "").lower())
            if found is not None:
                return found
        if principal.endswith(".amazonaws.com") and not principal.startswith("arn:"):
            return cls.SERVICE
        if _ROOT_ARN.match(principal):
            return cls.ROOT
        if ":user/" in principal:
            return cls.IAM_USER
        return cls.ROLE


_ROOT_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:root$")
_CONDITION_VALUES = {
    PrincipalType.IAM_USER: "User",
    PrincipalType.ROLE: "AssumedRole",
    PrincipalType.ROOT: "Account",
    PrincipalType.SERVICE: "AWSService",
    PrincipalType.ACCOUNT: "Account",
    PrincipalType.FEDERATED_USER: "FederatedUser",
    PrincipalType.UNKNOWN: "AssumedRole",
}
_SPELLINGS = {
    "root": PrincipalType.ROOT,
    "account": PrincipalType.ACCOUNT,
    "iamuser": PrincipalType.IAM_USER,
    "user": PrincipalType.IAM_USER,
    "assumedrole": PrincipalType.ROLE,
    "role": PrincipalType.ROLE,
    "federateduser": PrincipalType.FEDERATED_USER,
    "awsservice": PrincipalType.SERVICE,
    "service": PrincipalType.SERVICE,
}


@dataclass(frozen=True, slots=True)
class TrustZone:
    """Who may use a key: the owner's account plus trusted accounts, orgs and OU paths."""

    account: str = SELF_ACCOUNT
    trusted_accounts: frozenset[str] = frozenset()
    trusted_orgs: frozenset[str] = frozenset()
    trusted_org_paths: frozenset[str] = frozenset()

    @property
    def accounts(self) -> frozenset[str]:
        return self.trusted_accounts | {self.account}

    def contains_account(self, account: str) -> bool:
        return account in self.accounts

    def contains_org(self, org_id: str | None) -> bool:
        return org_id is not None and org_id in self.trusted_orgs

    def contains_org_path(self, path: str) -> bool:
        return any(path.startswith(p) for p in self.trusted_org_paths)


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """The zone of trust as the user states it (--account, --org-id, --trusted-account,
    --trusted-org, --trusted-ou-path): the owner's organization is trusted."""

    account: str | None = None
    org_id: str | None = None
    trusted_accounts: tuple[str, ...] = ()
    trusted_orgs: tuple[str, ...] = ()
    trusted_ou_paths: tuple[str, ...] = ()

    def zone(self) -> TrustZone:
        orgs = set(self.trusted_orgs)
        if self.org_id:
            orgs.add(self.org_id)
        return TrustZone(
            account=self.account or SELF_ACCOUNT,
            trusted_accounts=frozenset(self.trusted_accounts),
            trusted_orgs=frozenset(orgs),
            trusted_org_paths=frozenset(self.trusted_ou_paths),
        )


@dataclass(frozen=True, slots=True)
class Witness:
    """One concrete request that the concrete evaluator allows."""

    principal: str  # ARN, e.g. arn:aws:iam::999900001111:role/attacker
    account: str
    action: str  # concrete kms: action
    org_id: str | None = None
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()  # other condition keys, sorted
    principal_type: str = "AssumedRole"  # Account | User | AssumedRole | FederatedUser

    def context_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.context}

    def describe(self) -> str:
        org = f" in organization {self.org_id}" if self.org_id else " outside any organization"
        extra = ""
        if self.context:
            parts = [f"{k}={','.join(v) if v else '(empty)'}" for k, v in self.context]
            extra = " with " + ", ".join(parts)
        return f"{self.principal} (account {self.account}{org}) is allowed {self.action}{extra}"

    def to_json(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "principal_type": self.principal_type,
            "account": self.account,
            "org_id": self.org_id,
            "action": self.action,
            "context": self.context_dict(),
            "explanation": self.describe(),
        }


@dataclass(frozen=True, slots=True)
class Exposure:
    """A set of actions that principals outside the zone of trust can be allowed."""

    kind: ExposureKind
    severity: Severity
    actions: tuple[str, ...]
    principals: tuple[str, ...]  # "*" or the named outside accounts / orgs / ARNs
    statements: tuple[str, ...]  # Sid or "#<index>"
    witness: Witness | None
    network_restricted: bool = False
    network_conditions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "kind": str(self.kind),
            "severity": str(self.severity),
            "actions": list(self.actions),
            "principals": list(self.principals),
            "statements": list(self.statements),
            "network_restricted": self.network_restricted,
            "network_conditions": list(self.network_conditions),
            "witness": self.witness.to_json() if self.witness else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    """The engine's judgement of one key policy (or grant) against a zone of trust."""

    verdict: Verdict
    severity: Severity
    exposures: tuple[Exposure, ...] = ()
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: the analysis gave up (solver timeout, a construct it cannot model): verdict `error`,
    #: reported as "could not decide" — never as "could not be read"
    undecided: bool = False

    @classmethod
    def unreadable(cls, *errors: str, notes: tuple[str, ...] = ()) -> Assessment:
        """A policy (or resource) that could not be read or parsed: `error`, never a pass."""
        return cls(Verdict.ERROR, Severity.NONE, errors=errors, notes=notes)

    @classmethod
    def of(
        cls,
        exposures: tuple[Exposure, ...] | list[Exposure],
        *,
        errors: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
    ) -> Assessment:
        """The verdict the exposures imply (public, else cross-account, else private; a
        confused-deputy exposure alone leaves it private) and the worst one's severity."""
        kinds = {e.kind for e in exposures}
        if ExposureKind.PUBLIC in kinds:
            verdict = Verdict.PUBLIC
        elif ExposureKind.CROSS_ACCOUNT in kinds:
            verdict = Verdict.CROSS_ACCOUNT
        else:
            verdict = Verdict.PRIVATE
        return cls(
            verdict=verdict,
            severity=max_severity([e.severity for e in exposures]),
            exposures=tuple(exposures),
            errors=errors,
            notes=notes,
        )

    @property
    def exposed_actions(self) -> tuple[str, ...]:
        return tuple(sorted({a for e in self.exposures for a in e.actions}))

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": str(self.verdict),
            "severity": str(self.severity),
            "exposures": [e.to_json() for e in self.exposures],
            "errors": list(self.errors),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a policy came from: a file location, a template resource or a live key."""

    source: str  # the path as given, an s3:// URL, or a key ARN
    line: int | None = None
    resource: str | None = None  # CloudFormation logical id or Terraform address
    account: str | None = None
    region: str | None = None

    def describe(self) -> str:
        loc = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{loc} ({self.resource})" if self.resource else loc


@dataclass(frozen=True, slots=True)
class Finding:
    """One judged policy from any source; the unit of every report and of history."""

    origin: Origin
    rule_id: str | None  # None for a private verdict: nothing to report
    assessment: Assessment
    suppressed: str | None = None  # the reason, when suppressed
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def verdict(self) -> Verdict:
        return self.assessment.verdict

    @property
    def severity(self) -> Severity:
        return self.assessment.severity
