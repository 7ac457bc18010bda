"""Reading principal values of a key policy: account roots, IAM/STS ARNs, bare account ids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):(.+)$")
_STS_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):sts::(\d{12}):(.+)$")


@dataclass(frozen=True, slots=True)
class AwsPrincipal:
    """What one `"AWS"` principal value names.

    kind: `any` (`*` or an ARN with wildcards, judged as `*`), `account` (root or bare id),
    `arn` (a role, user or session), `unknown` (a unique id of a deleted principal, or junk).
    """

    kind: str
    account: str | None = None
    arn: str | None = None  # the IAM form (roles: arn:aws:iam::A:role/path/name)
    session_of: str | None = None  # for sts assumed-role ARNs, the role name


@lru_cache(maxsize=8192)
def read_aws_principal(value: str) -> AwsPrincipal:
    if value == "*" or "*" in value or "?" in value:
        return AwsPrincipal("any")
    if _ACCOUNT.match(value):
        return AwsPrincipal("account", account=value)
    m = _IAM_ARN.match(value)
    if m:
        account, rest = m.group(2), m.group(3)
        if rest == "root":
            return AwsPrincipal("account", account=account)
        return AwsPrincipal("arn", account=account, arn=value)
    m = _STS_ARN.match(value)
    if m:
        account, rest = m.group(2), m.group(3)
        parts = rest.split("/")
        if parts[0] == "assumed-role" and len(parts) >= 3:
            return AwsPrincipal("arn", account=account, arn=value, session_of=parts[1])
        return AwsPrincipal("arn", account=account, arn=value)
    return AwsPrincipal("unknown")


def role_name(arn: str) -> str | None:
    """`arn:aws:iam::A:role/path/name` -> `name`."""
    m = _IAM_ARN.match(arn)
    if not m or not m.group(3).startswith("role/"):
        return None
    return m.group(3).rsplit("/", 1)[-1]
