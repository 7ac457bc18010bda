"""What the IaC sources hand to the judge: one item per key-policy-bearing resource, with
its location and the resolved policy (one variant per branch of a conditional)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmsguard.model import Origin

#: More branch combinations than this are not enumerated (2**5 variants at most).
MAX_BRANCH_CHOICES = 5


@dataclass(frozen=True, slots=True)
class GrantSpec:
    """A Terraform `aws_kms_grant`, with its values resolved."""

    grantee_principal: str
    retiring_principal: str | None
    operations: tuple[str, ...]
    constraints: Any = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Variant:
    """One way the resource can deploy: a concrete policy (or grant), or why not."""

    label: str = ""  # e.g. "condition IsProd=true"; empty when there is only one way
    policy: Any = None  # the key policy as a JSON value (dict, or a JSON string)
    grant: GrantSpec | None = None
    unresolved: str | None = None
    #: why parts of strings were not known (they hold `unknowns.MARKER`)
    unknowns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # where values came from (tfvars, placeholder region...)
    #: not created with these values (`count = 0`, an empty `for_each`): exposes nothing
    absent: bool = False


@dataclass(frozen=True, slots=True)
class IacItem:
    """A resource (or a whole file, for file-level errors) to report on."""

    origin: Origin
    end_line: int | None = None
    variants: tuple[Variant, ...] = ()
    error: str | None = None  # the file or resource could not be read at all
    hint: str | None = None
    notes: tuple[str, ...] = ()
    #: CloudFormation `Metadata.kmsguard` of the resource (inline suppressions)
    metadata: Any = None


@dataclass(frozen=True, slots=True)
class SourceResult:
    items: tuple[IacItem, ...] = ()
    #: files a template pulled in (Terraform `file()`), so they are not judged twice
    referenced: frozenset[Path] = field(default_factory=frozenset)


class Unresolved(Exception):  # noqa: N818 - a control-flow signal, not an error to report
    """Raised inside a resolver when a value cannot be known statically."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def default_key_policy(account: str) -> dict[str, Any]:
    """The policy AWS gives a key created without one: the owner account's IAM decides."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
