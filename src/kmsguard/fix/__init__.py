"""`kmsguard fix`: plan a least-privilege key policy from observed usage, verify it with the
engine, apply it with the previous policy saved first, and roll back."""

from .apply import apply_plan, rollback
from .outcome import Applied, Skipped, SkipReason
from .planning import Offer, PlanRefusedError, SavedPlan, load_plan, make_offer

__all__ = [
    "Applied",
    "Offer",
    "PlanRefusedError",
    "SavedPlan",
    "SkipReason",
    "Skipped",
    "apply_plan",
    "load_plan",
    "make_offer",
    "rollback",
]
