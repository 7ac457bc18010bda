"""Remediation: from a key policy, the callers observed using the key (`evidence`) and the
zone of trust, a least-privilege replacement (`plan`), judged by an independent verifier
(`verify`). Pure: no I/O."""

from .evidence import ObservedCaller, ObservedRequest
from .plan import LostAccess, RemediationPlan, StatementChange, Strategy, plan_remediation
from .verify import ReplayOutcome, Verification, verify

__all__ = [
    "LostAccess",
    "ObservedCaller",
    "ObservedRequest",
    "RemediationPlan",
    "ReplayOutcome",
    "StatementChange",
    "Strategy",
    "Verification",
    "plan_remediation",
    "verify",
]
