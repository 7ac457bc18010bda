"""`kmsguard fix`: plan a least-privilege key policy from observed usage, verify it with the
engine, apply it with the previous policy saved first, and roll back."""

from .apply import Applied, Skipped, SkipReason, apply_plan, rollback
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
