"""The history tables: scan runs, findings with their lifecycle, key inventory snapshots and
IaC findings blocked by a CI gate. Every change here needs an Alembic revision in
`migrations/versions/` (a test compares the migrated schema with these models)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .database import Base


class RunKind(StrEnum):
    AWS = "aws"  # kmsguard scan aws
    IAC = "iac"  # kmsguard scan iac


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ScanRunRow(Base):
    """One recorded scan: what (kind), over what (scope), when, and whether it read
    everything (only a complete run resolves findings)."""

    __tablename__ = "scan_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    #: JSON list of scope units: "ACCOUNT/REGION" (aws) or absolute paths (iac)
    scope: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    complete: Mapped[bool] = mapped_column(Boolean)
    #: JSON object: counts the run reported (keys, findings, fail-on, ...)
    summary: Mapped[str] = mapped_column(Text, default="{}")


#: the one open episode of a finding: at most one open row per fingerprint (a partial
#: unique index, on SQLite and PostgreSQL), so that two recorders writing at once cannot
#: both open it
OPEN_WHERE = text("status = 'open'")
OPEN_FINDING_INDEX = "uq_findings_open_fingerprint"


class FindingRow(Base):
    """One finding episode: opened when first seen, resolved when a complete scan of its
    scope no longer sees it (or a fix / monitor event says so). A finding that comes back
    after being resolved starts a new row with the same fingerprint; only one row of a
    fingerprint is ever open."""

    __tablename__ = "findings"
    __table_args__ = (
        Index("ix_findings_fingerprint_status", "fingerprint", "status"),
        Index(
            OPEN_FINDING_INDEX,
            "fingerprint",
            unique=True,
            sqlite_where=OPEN_WHERE,
            postgresql_where=OPEN_WHERE,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: sha256 of the identity: kind + key ARN (or file + resource) + rule (+ grant id)
    fingerprint: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)  # key ARN, or the file's absolute path
    resource: Mapped[str | None] = mapped_column(Text, nullable=True)  # IaC resource / alias
    detail_id: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. the grant id
    rule_id: Mapped[str] = mapped_column(String(16), index=True)
    #: the scope unit whose complete scans can resolve it ("ACCOUNT/REGION" or a path)
    scope_unit: Mapped[str] = mapped_column(Text)
    account: Mapped[str | None] = mapped_column(String(12), nullable=True)
    region: Mapped[str | None] = mapped_column(String(32), nullable=True)
    display_source: Mapped[str] = mapped_column(Text)  # the path as given, or the ARN
    line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    verdict: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    statements: Mapped[str] = mapped_column(Text, default="")  # Sids, comma separated
    actions: Mapped[str] = mapped_column(Text, default="")
    principals: Mapped[str] = mapped_column(Text, default="")
    witness: Mapped[str | None] = mapped_column(Text, nullable=True)
    remediation: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    opened_by_run: Mapped[int | None] = mapped_column(
        ForeignKey("scan_runs.id"), nullable=True
    )
    opened_by_event: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by_run: Mapped[int | None] = mapped_column(ForeignKey("scan_runs.id"), nullable=True)
    #: "monitor:<event id>", "fix-apply:<policy version>", "fix-rollback:<policy version>"
    resolved_by_event: Mapped[str | None] = mapped_column(Text, nullable=True)


class KeySnapshotRow(Base):
    """One key as a recorded live scan saw it."""

    __tablename__ = "key_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id"), index=True)
    key_arn: Mapped[str] = mapped_column(Text)
    account: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    manager: Mapped[str | None] = mapped_column(String(16), nullable=True)  # CUSTOMER | AWS
    state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    verdict: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    #: None when the tags could not be read
    owner_tag: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    aliases: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    tags: Mapped[str] = mapped_column(Text, default="{}")  # JSON object


class BlockedFindingRow(Base):
    """An IaC finding that failed a `scan iac --fail-on` gate: blocked before deployment."""

    __tablename__ = "blocked_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id"), index=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    fail_on: Mapped[str] = mapped_column(String(16))
    blocked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SnapshotView(NamedTuple):
    """A key snapshot as the KPIs read it (plain tuples: thousands per scan)."""

    run_id: int
    key_arn: str
    account: str
    region: str
    manager: str | None
    state: str | None
    verdict: str
    severity: str
    owner_tag: bool | None
    aliases: str
    tags: str


SNAPSHOT_COLUMNS = tuple(getattr(KeySnapshotRow, name) for name in SnapshotView._fields)
