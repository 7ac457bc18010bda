"""The KMS action catalog: every action a key policy can grant on a key, with its danger tier,
and case-insensitive wildcard matching of policy action patterns against it."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from kmsguard.model import Severity

_DATA = json.loads(resources.files("kmsguard.policy").joinpath("kms_actions.json").read_text())
_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.LOW: 2, Severity.INFO: 3}
_ACTIONS: dict[str, dict[str, Any]] = _DATA["actions"]

#: Every key-resource action as `kms:Name`, most dangerous first (generated from botocore's
#: KMS service model by scripts/gen_kms_actions.py; tiers classified by hand in the data file).
KMS_ACTIONS: tuple[str, ...] = tuple(
    f"kms:{a}" for a in sorted(_ACTIONS, key=lambda a: _RANK[Severity(_ACTIONS[a]["tier"])])
)

#: the catalog as a set, for membership tests
CATALOG: frozenset[str] = frozenset(KMS_ACTIONS)

_TIER_OF: dict[str, Severity] = {
    f"kms:{a}".lower(): Severity(v["tier"]) for a, v in _ACTIONS.items()
}

#: Actions KMS itself accepts from principals of another account (KMS Developer Guide,
#: "Allowing users in other accounts to use a KMS key"); the rest can only be called by the
#: key's own account, whatever the policy says.
CROSS_ACCOUNT_CALLABLE: frozenset[str] = frozenset(
    f"kms:{a}" for a, v in _ACTIONS.items() if v["cross_account"]
)


def action_severity(action: str) -> Severity:
    """The action's tier; an action the catalog does not know is critical (it may be newer
    than the catalog, and nothing says it is harmless)."""
    return _TIER_OF.get(action.lower(), Severity.CRITICAL)


def is_known(action: str) -> bool:
    return action.lower() in _TIER_OF


def unknown_kms_actions(patterns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """`kms:` action names written without wildcards that the catalog does not list."""
    return _unknown(tuple(patterns))


@lru_cache(maxsize=8192)
def _unknown(patterns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        p
        for p in patterns
        if p.lower().startswith("kms:") and not any(ch in p for ch in "*?") and not is_known(p)
    )


def canonical_action(name: str) -> str | None:
    """`kms:decrypt` -> `kms:Decrypt`; None for names outside the catalog."""
    return _CANONICAL.get(name.lower())


_CANONICAL = {a.lower(): a for a in KMS_ACTIONS}


@lru_cache(maxsize=8192)
def _pattern(pattern: str) -> re.Pattern[str]:
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` wildcards."""
    return _pattern(pattern).fullmatch(action) is not None


@lru_cache(maxsize=16384)
def covers(patterns: tuple[str, ...], action: str) -> bool:
    """Does any of a statement's action patterns match the action? (Statements repeat the
    same action lists, and every action class asks this per statement: cached, bounded.)"""
    return any(matches(p, action) for p in patterns)


@lru_cache(maxsize=8192)
def expand(patterns: tuple[str, ...]) -> frozenset[str]:
    """The catalog actions matched by any of the patterns (non-KMS patterns match nothing)."""
    return frozenset(a for a in KMS_ACTIONS if any(matches(p, a) for p in patterns))


def expand_action_patterns(patterns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Concrete action names for patterns such as `kms:*` or `kms:Gen*`, in catalog order."""
    hit = expand(tuple(patterns))
    return tuple(a for a in KMS_ACTIONS if a in hit)
