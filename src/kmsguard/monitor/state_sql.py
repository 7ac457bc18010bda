"""`MonitorState` in the history store (SQLAlchemy; a SQLite file by default), on the tables
of `kmsguard.store.monitor_state`."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from kmsguard.store.database import migrate
from kmsguard.store.monitor_state import DELIVERED, PENDING, MonitorEventRow, MonitorKeyRow

from .alerts import Alert
from .state import Claim, KeyState, StateError

_LOCKED_RETRIES = 50


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SqlMonitorState:
    """`MonitorState` on an SQLAlchemy engine (a SQLite file by default)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        for attempt in range(_LOCKED_RETRIES):
            try:
                migrate(engine)  # the store's Alembic revisions own the schema (no-op if current)
                if engine.dialect.name == "sqlite":
                    # One fsync per commit instead of three, and readers never wait for a
                    # writer: the monitor commits once or twice per event, from several
                    # consumers at once.
                    with engine.connect() as conn:
                        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                return
            except OperationalError as exc:
                # consumers starting together race to migrate / switch the journal mode
                if attempt == _LOCKED_RETRIES - 1:
                    raise StateError(
                        f"cannot open the monitor state: {exc.__class__.__name__}"
                    ) from exc
                time.sleep(0.02 * (attempt + 1))

    def seen(self, event_id: str) -> bool:
        try:
            with Session(self._engine) as session:
                return session.get(MonitorEventRow, event_id) is not None
        except SQLAlchemyError as exc:
            raise StateError(f"cannot read the monitor state: {exc.__class__.__name__}") from exc

    def key(self, key_arn: str) -> KeyState | None:
        try:
            with Session(self._engine) as session:
                row = session.get(MonitorKeyRow, key_arn)
                if row is None:
                    return None
                return KeyState.from_json(row.key_arn, row.version, json.loads(row.state))
        except SQLAlchemyError as exc:
            raise StateError(f"cannot read the monitor state: {exc.__class__.__name__}") from exc

    def record(
        self,
        event_id: str,
        new: KeyState | None,
        alerts: Sequence[Alert],
        *,
        expected_version: int,
        now: datetime,
    ) -> Claim:
        for attempt in range(_LOCKED_RETRIES):
            try:
                return self._record_once(event_id, new, alerts, expected_version, now)
            except OperationalError as exc:
                if "locked" not in str(exc) or attempt == _LOCKED_RETRIES - 1:
                    raise StateError(
                        f"cannot write the monitor state: {exc.__class__.__name__}"
                    ) from exc
                time.sleep(0.02 * (attempt + 1))  # another consumer holds the write lock
            except SQLAlchemyError as exc:
                raise StateError(
                    f"cannot write the monitor state: {exc.__class__.__name__}"
                ) from exc
        raise AssertionError("unreachable")

    def _record_once(
        self,
        event_id: str,
        new: KeyState | None,
        alerts: Sequence[Alert],
        expected_version: int,
        now: datetime,
    ) -> Claim:
        event = MonitorEventRow(
            event_id=event_id,
            key_arn=new.key_arn if new is not None else None,
            claimed_at=now,
            status=PENDING if alerts else DELIVERED,
            alerts=json.dumps([a.to_json() for a in alerts]),
        )
        with Session(self._engine) as session, session.begin():
            session.add(event)  # the write comes first: the claim takes the write lock
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                return Claim.DUPLICATE
            if new is not None and not self._store_key(session, new, expected_version, now):
                session.rollback()
                return Claim.CONFLICT
        return Claim.CLAIMED

    def _store_key(
        self, session: Session, new: KeyState, expected_version: int, now: datetime
    ) -> bool:
        state = json.dumps(new.to_json())
        if expected_version == 0:
            if session.get(MonitorKeyRow, new.key_arn) is not None:
                return False
            session.add(
                MonitorKeyRow(
                    key_arn=new.key_arn,
                    version=1,
                    verdict=new.verdict,
                    last_event_time=new.last_event_time,
                    updated_at=now,
                    state=state,
                )
            )
            try:
                session.flush()
            except IntegrityError:  # another handler stored the key first
                return False
            return True
        result = session.execute(
            update(MonitorKeyRow)
            .where(MonitorKeyRow.key_arn == new.key_arn, MonitorKeyRow.version == expected_version)
            .values(
                version=expected_version + 1,
                verdict=new.verdict,
                last_event_time=new.last_event_time,
                updated_at=now,
                state=state,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE

    def delivered(self, event_id: str) -> None:
        try:
            with Session(self._engine) as session, session.begin():
                session.execute(
                    update(MonitorEventRow)
                    .where(MonitorEventRow.event_id == event_id)
                    .values(status=DELIVERED)
                )
        except SQLAlchemyError as exc:
            raise StateError(f"cannot write the monitor state: {exc.__class__.__name__}") from exc

    def reclaim(self, event_id: str, *, now: datetime, lease: timedelta) -> tuple[Alert, ...]:
        try:
            with Session(self._engine) as session, session.begin():
                row = session.get(MonitorEventRow, event_id)
                if row is None or row.status != PENDING:
                    return ()
                claimed_at = _utc(row.claimed_at)
                if now - claimed_at < lease:
                    return ()
                result = session.execute(
                    update(MonitorEventRow)
                    .where(
                        MonitorEventRow.event_id == event_id,
                        MonitorEventRow.status == PENDING,
                        MonitorEventRow.claimed_at == row.claimed_at,
                    )
                    .values(claimed_at=now)
                )
                if not result.rowcount:  # type: ignore[attr-defined]  # CursorResult
                    return ()
                return tuple(Alert.from_json(a) for a in json.loads(row.alerts))
        except SQLAlchemyError as exc:
            raise StateError(f"cannot write the monitor state: {exc.__class__.__name__}") from exc

    def keys(self) -> tuple[KeyState, ...]:
        """Every key's state (for reports and tests)."""
        with Session(self._engine) as session:
            rows = session.scalars(select(MonitorKeyRow).order_by(MonitorKeyRow.key_arn)).all()
            return tuple(
                KeyState.from_json(r.key_arn, r.version, json.loads(r.state)) for r in rows
            )
