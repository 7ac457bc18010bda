"""The one ARN parser and builder: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.

Every module that needs a part of an ARN (its partition, region, account) or builds one
(a key, a role, an account root) uses these functions instead of splitting on `:` itself.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PARTITION = "aws"


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str  # everything after the fifth colon, e.g. `key/1234` or `role/path/name`

    def __str__(self) -> str:
        return build_arn(self.service, self.resource, self.account, self.region, self.partition)

    @property
    def resource_type(self) -> str:
        """`key` of `key/1234`, `role` of `role/path/name`; empty for a bare resource."""
        head, sep, _ = self.resource.partition("/")
        return head if sep else ""


def parse_arn(text: str | None) -> Arn | None:
    """The parts of an ARN; None when `text` is not `arn:` followed by five colons.
    Empty parts stay empty (`arn:aws:iam::123:root` has no region)."""
    if not text or not text.startswith("arn:"):
        return None
    parts = text.split(":", 5)
    if len(parts) != 6:
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def partition_of(text: str | None, default: str = DEFAULT_PARTITION) -> str:
    """The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`), else `default`.
    Reads only the second field, so a truncated ARN still yields its partition."""
    if text and text.startswith("arn:"):
        part = text.split(":", 2)[1]
        if part:
            return part
    return default


def region_of(text: str | None) -> str | None:
    """The region of an ARN; None when it has none or `text` is not an ARN."""
    arn = parse_arn(text)
    return arn.region or None if arn else None


def account_of(text: str | None) -> str | None:
    """The account of an ARN; None when it has none or `text` is not an ARN."""
    arn = parse_arn(text)
    return arn.account or None if arn else None


def build_arn(
    service: str,
    resource: str,
    account: str = "",
    region: str = "",
    partition: str = DEFAULT_PARTITION,
) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def root_arn(account: str, partition: str = DEFAULT_PARTITION) -> str:
    """The ARN a key policy uses for an account: `arn:aws:iam::ACCOUNT:root`."""
    return build_arn("iam", "root", account, partition=partition)


def role_arn(account: str, name: str, partition: str = DEFAULT_PARTITION) -> str:
    return build_arn("iam", f"role/{name}", account, partition=partition)


def key_arn(region: str, account: str, key_id: str, partition: str = DEFAULT_PARTITION) -> str:
    return build_arn("kms", f"key/{key_id}", account, region, partition)
