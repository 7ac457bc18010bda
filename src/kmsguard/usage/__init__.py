"""CloudTrail usage analysis: who used which KMS key, with which actions, through which
service — the evidence the remediation planner replays against a proposed policy."""

from kmsguard.model import PrincipalType

from .api import analyze_usage, live_keys, resolve_keys
from .report import (
    Caller,
    ContextKey,
    Evidence,
    KeyUsage,
    RequestShape,
    SkippedFile,
    UsageReport,
    Window,
)

__all__ = [
    "Caller",
    "ContextKey",
    "Evidence",
    "KeyUsage",
    "PrincipalType",
    "RequestShape",
    "SkippedFile",
    "UsageReport",
    "Window",
    "analyze_usage",
    "live_keys",
    "resolve_keys",
]
