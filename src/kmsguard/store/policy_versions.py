"""Saved key-policy versions: every policy kmsguard replaced or wrote, byte for byte,
so that any change it made can be rolled back."""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import DateTime, Engine, Integer, String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .database import (
    Base,
    StoreError,
    db_name,
    describe_db_error,
    sqlite_file,
    user_data_dir,
)
from .locks import key_lock


class VersionReason(StrEnum):
    BEFORE_APPLY = "before-apply"  # the live policy, saved before kmsguard replaced it
    APPLIED = "applied"  # the policy kmsguard wrote
    BEFORE_ROLLBACK = "before-rollback"
    ROLLED_BACK = "rolled-back"  # the policy a rollback restored


class PolicyVersionRow(Base):
    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_arn: Mapped[str] = mapped_column(String(2048), index=True)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sha256: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(32))
    backup_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: for a policy saved before a write: the hash of the policy about to be written
    next_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: sha256 of the backup file's bytes, which in turn carries `binding_digest` of this row
    backup_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One saved policy text of one key."""

    id: int
    key_arn: str
    saved_at: datetime
    sha256: str
    policy: str
    reason: VersionReason
    backup_path: str | None = None
    note: str | None = None
    next_sha256: str | None = None
    backup_sha256: str | None = None

    @property
    def binding(self) -> str:
        """The digest a backup file carries of this row (see `binding_digest`)."""
        return binding_digest(self.key_arn, self.saved_at, self.reason, self.sha256)

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.id,
            "key_arn": self.key_arn,
            "saved_at": self.saved_at.isoformat(),
            "sha256": self.sha256,
            "reason": str(self.reason),
            "backup_path": self.backup_path,
            "note": self.note,
            "next_sha256": self.next_sha256,
            "backup_sha256": self.backup_sha256,
        }


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def binding_digest(key_arn: str, saved_at: datetime, reason: str, policy_sha256: str) -> str:
    """What binds a saved version and its backup file: the key, the time (to the
    microsecond, UTC), why it was saved and the policy's hash. The backup carries this of
    its row; the row carries the hash of the backup's bytes."""
    when = saved_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return sha256_text(f"kmsguard-binding-1\n{key_arn}\n{when}\n{reason}\n{policy_sha256}")


def _to_value(row: PolicyVersionRow) -> PolicyVersion:
    saved_at = row.saved_at if row.saved_at.tzinfo else row.saved_at.replace(tzinfo=UTC)
    return PolicyVersion(
        id=row.id,
        key_arn=row.key_arn,
        saved_at=saved_at,
        sha256=row.sha256,
        policy=row.policy,
        reason=VersionReason(row.reason),
        backup_path=row.backup_path,
        note=row.note,
        next_sha256=row.next_sha256,
        backup_sha256=row.backup_sha256,
    )


class PolicyVersionStore:
    """Reads and writes saved policy versions; the engine is injected."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def lock_dir(self) -> Path:
        """Where the per-key lock files live: beside the SQLite file, else in the user
        data folder."""
        path = sqlite_file(self._engine)
        return path.parent / "locks" if path is not None else user_data_dir() / "locks"

    def lock(self, key_arn: str, operation: str) -> AbstractContextManager[None]:
        """One writer per key for a read-check-write-read back sequence."""
        return key_lock(self.lock_dir(), key_arn, operation)

    def save(
        self,
        key_arn: str,
        policy: str,
        reason: VersionReason,
        *,
        backup_path: str | None = None,
        note: str | None = None,
        next_sha256: str | None = None,
        saved_at: datetime | None = None,
        backup_sha256: str | None = None,
    ) -> PolicyVersion:
        """Commit one version (durably, before returning)."""
        row = PolicyVersionRow(
            key_arn=key_arn,
            saved_at=saved_at or datetime.now(UTC),
            sha256=sha256_text(policy),
            policy=policy,
            reason=str(reason),
            backup_path=backup_path,
            note=note,
            next_sha256=next_sha256,
            backup_sha256=backup_sha256,
        )
        try:
            with Session(self._engine) as session, session.begin():
                session.add(row)
                session.flush()
                value = _to_value(row)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot save the policy of `{key_arn}` in the database "
                f"`{db_name(self._engine)}`: {describe_db_error(exc)}",
                hint="nothing was changed on the key",
            ) from exc
        return value

    def versions(self, key_arn: str) -> tuple[PolicyVersion, ...]:
        """Every saved version of the key, oldest first."""
        try:
            with Session(self._engine) as session:
                rows = session.scalars(
                    select(PolicyVersionRow)
                    .where(PolicyVersionRow.key_arn == key_arn)
                    .order_by(PolicyVersionRow.id)
                ).all()
                return tuple(_to_value(r) for r in rows)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot read saved policies of `{key_arn}` from the database "
                f"`{db_name(self._engine)}`: {describe_db_error(exc)}"
            ) from exc

    def get(self, key_arn: str, version: int) -> PolicyVersion | None:
        return next((v for v in self.versions(key_arn) if v.id == version), None)

    def latest(
        self, key_arn: str, reasons: tuple[VersionReason, ...] | None = None
    ) -> PolicyVersion | None:
        found = [v for v in self.versions(key_arn) if reasons is None or v.reason in reasons]
        return found[-1] if found else None
