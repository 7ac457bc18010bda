"""What `fix apply` and `fix rollback` return: `Applied` (the key has the new policy, the old
one is saved) or `Skipped` (nothing was written, and why). Data only, so renderers may take it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from kmsguard.model import Assessment, Verdict
from kmsguard.policy.remediation import Verification
from kmsguard.store.policy_versions import PolicyVersion


class SkipReason(StrEnum):
    DRY_RUN = "dry-run"  # everything checked; --yes was not given
    UNCHANGED = "unchanged"  # the live policy already is the target
    STALE = "stale"  # the live policy changed since the plan (or since kmsguard wrote it)
    UNSAFE = "unsafe"  # the target policy fails verification
    EXPOSED = "exposed"  # a rollback target the engine judges exposed (--allow-exposed)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Nothing was written, and why."""

    key_arn: str
    reason: SkipReason
    detail: str
    diff: str = ""
    verification: Verification | None = None

    @property
    def refused(self) -> bool:
        return self.reason in (SkipReason.STALE, SkipReason.UNSAFE, SkipReason.EXPOSED)

    def to_json(self) -> dict[str, object]:
        return {
            "status": "skipped",
            "key_arn": self.key_arn,
            "reason": str(self.reason),
            "detail": self.detail,
            "diff": self.diff,
            "verification": self.verification.to_json() if self.verification else None,
        }


@dataclass(frozen=True, slots=True)
class Applied:
    """The key now has the new policy; the previous one is saved."""

    key_arn: str
    operation: str  # "apply" | "rollback"
    saved: PolicyVersion  # the policy that was live before
    written: PolicyVersion  # the policy read back after writing
    backup_path: Path
    readback_matches: bool  # the policy read back is byte-for-byte what was sent
    assessment_after: Assessment | None
    diff: str

    @property
    def verdict_after(self) -> Verdict:
        return self.assessment_after.verdict if self.assessment_after else Verdict.ERROR

    def to_json(self) -> dict[str, object]:
        return {
            "status": "applied" if self.operation == "apply" else "rolled-back",
            "key_arn": self.key_arn,
            "saved_version": self.saved.to_json(),
            "written_version": self.written.to_json(),
            "backup_path": str(self.backup_path),
            "readback_matches": self.readback_matches,
            "verdict_after": str(self.verdict_after),
            "assessment_after": self.assessment_after.to_json()
            if self.assessment_after
            else None,
            "diff": self.diff,
        }
