"""The KMS action catalog: every action a key policy can grant on a key, with its danger tier,
and case-insensitive wildcard matching of policy action patterns against it."""

from __future__ import annotations

import re
from functools import cache

from kmsguard.model import Severity

# Actions that act on a key resource, by the tier of SPEC-exposure.md "Severity".
_TIERS: dict[Severity, tuple[str, ...]] = {
    Severity.CRITICAL: (
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "CreateGrant",
        "PutKeyPolicy",
        "ScheduleKeyDeletion",
        "DisableKey",
        "ImportKeyMaterial",
        "DeleteImportedKeyMaterial",
        "Sign",
        "GenerateMac",
        "DeriveSharedSecret",
        "ReplicateKey",
        "UpdatePrimaryRegion",
    ),
    Severity.HIGH: (
        "Encrypt",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPairWithoutPlaintext",
        "TagResource",
        "UntagResource",
        "CreateAlias",
        "DeleteAlias",
        "UpdateAlias",
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
        "EnableKey",
        "CancelKeyDeletion",
        "UpdateKeyDescription",
        "GetParametersForImport",
        "RetireGrant",
        "RevokeGrant",
    ),
    Severity.LOW: (
        "DescribeKey",
        "GetKeyPolicy",
        "ListGrants",
        "ListResourceTags",
        "GetKeyRotationStatus",
        "ListKeyPolicies",
        "ListKeyRotations",
    ),
    Severity.INFO: ("GetPublicKey", "Verify", "VerifyMac"),
}

#: Every key-resource action as `kms:Name`, most dangerous first.
KMS_ACTIONS: tuple[str, ...] = tuple(f"kms:{a}" for tier in _TIERS.values() for a in tier)

_TIER_OF: dict[str, Severity] = {
    f"kms:{a}".lower(): tier for tier, names in _TIERS.items() for a in names
}

#: Actions KMS itself accepts from principals of another account (KMS Developer Guide,
#: "Allowing users in other accounts to use a KMS key"); the rest can only be called by the
#: key's own account, whatever the policy says.
CROSS_ACCOUNT_CALLABLE: frozenset[str] = frozenset(
    f"kms:{a}"
    for a in (
        "CreateGrant",
        "Decrypt",
        "DescribeKey",
        "DeriveSharedSecret",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "GetKeyRotationStatus",
        "GetPublicKey",
        "ListGrants",
        "ReEncryptFrom",
        "ReEncryptTo",
        "RetireGrant",
        "RevokeGrant",
        "Sign",
        "Verify",
        "VerifyMac",
    )
)


def action_severity(action: str) -> Severity:
    return _TIER_OF.get(action.lower(), Severity.HIGH)


def canonical_action(name: str) -> str | None:
    """`kms:decrypt` -> `kms:Decrypt`; None for names outside the catalog."""
    return _CANONICAL.get(name.lower())


_CANONICAL = {a.lower(): a for a in KMS_ACTIONS}


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` wildcards."""
    return _pattern(pattern).fullmatch(action) is not None


@cache
def expand(patterns: tuple[str, ...]) -> frozenset[str]:
    """The catalog actions matched by any of the patterns (non-KMS patterns match nothing)."""
    return frozenset(a for a in KMS_ACTIONS if any(matches(p, a) for p in patterns))


def expand_action_patterns(patterns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Concrete action names for patterns such as `kms:*` or `kms:Gen*`, in catalog order."""
    hit = expand(tuple(patterns))
    return tuple(a for a in KMS_ACTIONS if a in hit)
