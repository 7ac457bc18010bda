"""The recorder: writes scan runs, finding lifecycles, key snapshots and blocked IaC
findings, and answers what the reports read.

Lifecycle rules:
- a finding seen by a run (or opened by an event) is `open`; one that is already open is
  touched (last seen, severity, witness);
- a COMPLETE run resolves every open finding of its kind whose scope unit it covered and
  that it did not see; an incomplete run resolves nothing;
- a policy change (fix apply/rollback, a monitor event) opens the key-policy findings the
  new policy has and resolves the key's other open key-policy findings;
- a finding that comes back after being resolved opens a new row (a new episode) with the
  same fingerprint, so every episode has its own time to remediate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from kmsguard.model import Assessment, Severity

from .database import StoreError
from .models import (
    OPEN_WHERE,
    SNAPSHOT_COLUMNS,
    BlockedFindingRow,
    FindingRow,
    FindingStatus,
    KeySnapshotRow,
    RunKind,
    ScanRunRow,
    SnapshotView,
)
from .observations import POLICY_RULES, KeySnapshot, Observation, observe_policy

Clock = Callable[[], datetime]
T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What recording one run changed."""

    run_id: int
    complete: bool
    opened: int = 0
    seen: int = 0
    resolved: int = 0
    blocked: int = 0

    def describe(self) -> str:
        text = (
            f"recorded run {self.run_id}: {self.opened} opened, {self.seen - self.opened} "
            f"still open, {self.resolved} resolved"
        )
        if self.blocked:
            text += f", {self.blocked} blocked before deployment"
        if not self.complete:
            text += " (incomplete scan: nothing resolved)"
        return text


@dataclass(frozen=True, slots=True)
class EventRecord:
    """What recording one event (fix, monitor alert) changed."""

    event: str
    opened: tuple[int, ...] = field(default=())
    resolved: tuple[int, ...] = field(default=())


def covers(kind: RunKind, scope: Iterable[str], unit: str) -> bool:
    """Whether a run over `scope` looked at `unit`: the same account/region (aws); the
    same file, or a file under a scanned folder (iac)."""
    if kind is RunKind.AWS:
        return unit in set(scope)
    return any(unit == root or unit.startswith(root.rstrip("/") + "/") for root in scope)


def iac_scope(paths: Sequence[Path], base: Path | None = None) -> tuple[str, ...]:
    """The absolute roots a `scan iac` looked at."""
    out = []
    for p in paths:
        full = base / p if base and not p.is_absolute() else p
        out.append(str(full.resolve()))
    return tuple(dict.fromkeys(out))


class History:
    """Reads and writes the history tables; the engine is injected (see `open_database`)."""

    def __init__(self, engine: Engine, clock: Clock = _now) -> None:
        self.engine = engine
        self._clock = clock

    # ------------------------------------------------------------------ writing

    def _write(self, work: Callable[[Session], T]) -> T:
        """`work` in one transaction, run again (up to 3 times) when PostgreSQL aborts it
        as a deadlock or serialization failure with another recorder writing at once."""
        for attempt in range(1, 4):
            try:
                with Session(self.engine) as session, session.begin():
                    return work(session)
            except OperationalError as exc:
                if attempt == 3 or not _retryable(exc):
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def record_run(
        self,
        kind: RunKind,
        scope: Sequence[str],
        observations: Iterable[Observation],
        *,
        complete: bool,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        snapshots: Iterable[KeySnapshot] = (),
        fail_on: Severity | None = None,
        summary: dict[str, object] | None = None,
    ) -> RunRecord:
        """Record one scan. With `fail_on` (IaC), findings at or above it are recorded as
        blocked before deployment."""
        finished = finished_at or self._clock()
        started = started_at or finished
        seen: dict[str, Observation] = {}
        for o in observations:
            seen.setdefault(o.fingerprint, o)
        snaps = list(snapshots)  # read once: the transaction may run again

        def work(session: Session) -> RunRecord:
            run = ScanRunRow(
                kind=str(kind),
                scope=json.dumps(sorted(scope)),
                started_at=started,
                finished_at=finished,
                complete=complete,
                summary=json.dumps(summary or {}, sort_keys=True, default=str),
            )
            session.add(run)
            session.flush()
            opened = 0
            rows: dict[str, FindingRow] = {}
            for fp, o in sorted(seen.items()):  # one order: no deadlock between runs
                row, new = self._open_or_touch(session, o, finished, run_id=run.id)
                rows[fp] = row
                opened += new
            resolved = 0
            if complete:
                stale = session.scalars(
                    select(FindingRow).where(
                        FindingRow.kind == str(kind),
                        FindingRow.status == FindingStatus.OPEN.value,
                    )
                ).all()
                for row in stale:
                    if row.fingerprint in seen or not covers(kind, scope, row.scope_unit):
                        continue
                    _resolve(row, finished, run_id=run.id)
                    resolved += 1
            rows_to_add = [_snapshot_values(run.id, snap) for snap in snaps]
            if rows_to_add:  # one executemany: thousands of keys per scan
                session.execute(insert(KeySnapshotRow), rows_to_add)
            blocked = 0
            if fail_on is not None:
                for fp, o in seen.items():
                    if o.severity.at_least(fail_on):
                        session.add(
                            BlockedFindingRow(
                                run_id=run.id,
                                finding_id=rows[fp].id,
                                fingerprint=fp,
                                fail_on=str(fail_on),
                                blocked_at=finished,
                            )
                        )
                        blocked += 1
            return RunRecord(run.id, complete, opened, len(seen), resolved, blocked)

        try:
            return self._write(work)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot record the scan: {exc.__class__.__name__}") from exc

    def record_policy_state(
        self,
        key_arn: str,
        assessment: Assessment | None,
        *,
        event: str,
        at: datetime | None = None,
        resolve_only: Sequence[str] | None = None,
    ) -> EventRecord:
        """The key's policy is now the one `assessment` judged (None: no exposure known,
        e.g. a monitor's "resolved" alert): open its key-policy findings, resolve the key's
        other open key-policy findings (only rules in `resolve_only`, when given)."""
        when = at or self._clock()
        current = observe_policy(key_arn, assessment) if assessment is not None else ()
        fingerprints = {o.fingerprint for o in current}
        candidates = resolve_only if resolve_only is not None else POLICY_RULES

        def work(session: Session) -> EventRecord:
            opened = []
            for o in sorted(current, key=lambda o: o.fingerprint):
                row, new = self._open_or_touch(session, o, when, event=event)
                if new:
                    opened.append(row.id)
            resolved = []
            rows = session.scalars(
                select(FindingRow).where(
                    FindingRow.kind == RunKind.AWS.value,
                    FindingRow.subject == key_arn,
                    FindingRow.status == FindingStatus.OPEN.value,
                    FindingRow.rule_id.in_(list(candidates)),
                )
            ).all()
            for row in rows:
                if row.fingerprint not in fingerprints:
                    _resolve(row, when, event=event)
                    resolved.append(row.id)
            return EventRecord(event, tuple(opened), tuple(resolved))

        try:
            return self._write(work)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot record the policy change of `{key_arn}`: {exc.__class__.__name__}"
            ) from exc

    def record_monitor_alert(
        self,
        *,
        key_arn: str,
        status: str,
        event_id: str,
        event_time: datetime,
        assessment: Assessment | None = None,
        rule_id: str | None = None,
    ) -> EventRecord:
        """The monitor's entry point. `status` "exposed": the event left the key's policy
        as `assessment` judged it (required) — its key-policy findings open (a finding
        already open stays one episode), others of the key resolve. "resolved": the key's
        open key-policy findings (only `rule_id`'s, when given) resolve, by this event."""
        if status not in ("exposed", "resolved"):
            raise ValueError(f"monitor alert status must be exposed or resolved, not {status!r}")
        if status == "exposed" and assessment is None:
            raise ValueError("an exposed alert needs the assessment of the key's new policy")
        return self.record_policy_state(
            key_arn,
            assessment if status == "exposed" else None,
            event=f"monitor:{event_id}",
            at=event_time,
            resolve_only=(rule_id,) if rule_id and status == "resolved" else None,
        )

    def _open_or_touch(  # the one open row of the finding, and whether it was opened now
        self,
        session: Session,
        o: Observation,
        when: datetime,
        *,
        run_id: int | None = None,
        event: str | None = None,
    ) -> tuple[FindingRow, bool]:
        row, new = _open_row(session, o, when, run_id=run_id, event=event)
        row.last_seen = when
        row.resource = o.resource
        row.account, row.region = o.account, o.region
        row.display_source, row.line = o.display_source, o.line
        row.verdict, row.severity = str(o.verdict), str(o.severity)
        row.title, row.remediation = o.title, o.remediation
        row.statements = ", ".join(o.statements)
        row.actions = ", ".join(o.actions)
        row.principals = ", ".join(o.principals)
        row.witness = o.witness
        session.flush()
        return row, new

    # ------------------------------------------------------------------ reading

    def runs(self, kind: RunKind | None = None) -> list[ScanRunRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(ScanRunRow).order_by(ScanRunRow.finished_at, ScanRunRow.id)
            if kind is not None:
                query = query.where(ScanRunRow.kind == str(kind))
            return list(session.scalars(query).all())

    def findings(self, status: FindingStatus | None = None) -> list[FindingRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(FindingRow).order_by(FindingRow.first_seen, FindingRow.id)
            if status is not None:
                query = query.where(FindingRow.status == str(status))
            return list(session.scalars(query).all())

    def snapshots(self) -> list[SnapshotView]:
        with self.engine.connect() as conn:
            query = select(*SNAPSHOT_COLUMNS).order_by(KeySnapshotRow.run_id, KeySnapshotRow.id)
            return [SnapshotView(*row) for row in conn.execute(query)]

    def blocked(self) -> list[BlockedFindingRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(BlockedFindingRow).order_by(BlockedFindingRow.blocked_at)
            return list(session.scalars(query).all())


#: PostgreSQL's deadlock_detected and serialization_failure: the transaction may succeed
#: when run again
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def _retryable(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def _open_row(
    session: Session,
    o: Observation,
    when: datetime,
    *,
    run_id: int | None,
    event: str | None,
) -> tuple[FindingRow, bool]:
    """The open row of `o`'s finding, inserted when there is none: insert-or-get against
    the partial unique index (one open row per fingerprint), so that a recorder writing at
    the same moment (another scan, the monitor) cannot open it a second time. On
    PostgreSQL the insert waits for a concurrent one to commit, then yields to it."""
    inserted = False
    for _ in range(6):  # a row that is resolved between the insert and the read: again
        row = session.scalars(
            select(FindingRow).where(
                FindingRow.fingerprint == o.fingerprint,
                FindingRow.status == FindingStatus.OPEN.value,
            )
        ).first()
        if row is not None:
            return row, inserted
        values: dict[str, object] = {
            "fingerprint": o.fingerprint,
            "kind": str(o.kind),
            "subject": o.subject,
            "detail_id": o.detail_id,
            "rule_id": o.rule_id,
            "scope_unit": o.scope_unit,
            "status": FindingStatus.OPEN.value,
            "first_seen": when,
            "last_seen": when,
            "opened_by_run": run_id,
            "opened_by_event": event,
            "display_source": o.display_source,
            "verdict": str(o.verdict),
            "severity": str(o.severity),
            "title": o.title,
        }
        inserted = _insert_if_none_open(session, values)
    raise StoreError(f"cannot open the finding `{o.fingerprint}`: it keeps changing")


def _insert_if_none_open(session: Session, values: Mapping[str, object]) -> bool:
    """INSERT ... ON CONFLICT (fingerprint) WHERE status = 'open' DO NOTHING; whether a
    row was inserted."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        returning = (
            postgresql.insert(FindingRow)
            .values(values)
            .on_conflict_do_nothing(index_elements=["fingerprint"], index_where=OPEN_WHERE)
            .returning(FindingRow.id)
        )
        return connection.execute(returning).first() is not None
    if connection.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        # the row count, not RETURNING: SQLite before 3.35 (2021) has no RETURNING
        plain = (
            sqlite.insert(FindingRow)
            .values(values)
            .on_conflict_do_nothing(index_elements=["fingerprint"], index_where=OPEN_WHERE)
        )
        return connection.execute(plain).rowcount == 1
    connection.execute(insert(FindingRow).values(values))  # pragma: no cover
    return True  # pragma: no cover


def _resolve(
    row: FindingRow, when: datetime, *, run_id: int | None = None, event: str | None = None
) -> None:
    row.status = FindingStatus.RESOLVED.value
    row.resolved_at = when
    row.resolved_by_run = run_id
    row.resolved_by_event = event


def _snapshot_values(run_id: int, snap: KeySnapshot) -> dict[str, object]:
    return {
        "run_id": run_id,
        "key_arn": snap.key_arn,
        "account": snap.account,
        "region": snap.region,
        "manager": snap.manager,
        "state": snap.state,
        "verdict": snap.verdict,
        "severity": snap.severity,
        "owner_tag": snap.owner_tag,
        "aliases": json.dumps(list(snap.aliases)),
        "tags": json.dumps(dict(snap.tags)),
    }
