"""Two recorders writing the same finding at the same moment (two `scan aws --record` runs,
or a scan and the monitor) into one database open it once, on SQLite and PostgreSQL.

The race is forced, not hoped for: each recorder has its own engine (as two processes
would), and both are held just before their first `INSERT INTO findings` until the other
has got there too, i.e. until both have looked for an open finding and found none."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from kmsguard.store import FindingStatus, History, RunKind, StoreError, open_database
from kmsguard.store.models import FindingRow

from .seed import arn, at, aws_obs, public_assessment

KEY = arn(1)
EU = ["111122223333/eu-west-1"]


def _held_before_first_finding_insert(engine: Engine, barrier: threading.Barrier) -> None:
    """Wait (once) at `barrier` before this engine's first INSERT into findings; a
    recorder that never gets there (the other one serialised it) lets the wait time out."""
    fired = threading.Event()

    @event.listens_for(engine, "before_cursor_execute")
    def _hold(*args: Any) -> None:
        statement = str(args[2]).lstrip().upper()
        if statement.startswith("INSERT INTO FINDINGS") and not fired.is_set():
            fired.set()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=2)


def _race(db_url: str, *recorders: Callable[[History], object]) -> list[FindingRow]:
    open_database(db_url).dispose()  # migrated once, before the race
    barrier = threading.Barrier(len(recorders))
    histories = []
    for _ in recorders:
        h = History(open_database(db_url))
        _held_before_first_finding_insert(h.engine, barrier)
        histories.append(h)
    with ThreadPoolExecutor(len(recorders)) as pool:
        futures = [pool.submit(r, h) for r, h in zip(recorders, histories, strict=True)]
        for f in futures:
            f.result(timeout=60)  # a recorder that failed fails the test
    for h in histories:
        h.engine.dispose()
    reader = History(open_database(db_url))
    rows = reader.findings()
    reader.engine.dispose()
    return rows


def _monitor(event_id: str, hours: float) -> Callable[[History], object]:
    return lambda h: h.record_monitor_alert(
        key_arn=KEY,
        status="exposed",
        event_id=event_id,
        event_time=at(hours),
        assessment=public_assessment(),
    )


def _scan(hours: float) -> Callable[[History], object]:
    return lambda h: h.record_run(
        RunKind.AWS, EU, [aws_obs(KEY)], complete=True, finished_at=at(hours)
    )


def test_two_monitor_events_open_one_finding(db_url: str) -> None:
    rows = _race(db_url, _monitor("ev-1", 1), _monitor("ev-2", 1.5))
    assert [(r.rule_id, r.status) for r in rows] == [("KMS001", FindingStatus.OPEN.value)]


def test_two_scans_open_one_finding(db_url: str) -> None:
    rows = _race(db_url, _scan(1), _scan(1.5))
    assert len(rows) == 1
    assert rows[0].status == FindingStatus.OPEN.value


def test_a_scan_and_the_monitor_open_one_finding(db_url: str) -> None:
    rows = _race(db_url, _scan(1), _monitor("ev-1", 1.2))
    assert len(rows) == 1


def test_many_recorders_many_keys(db_url: str) -> None:
    """Four recorders, twenty keys, all at once: one open finding per key, no error."""
    keys = [arn(n) for n in range(1, 21)]

    def scan(h: History) -> object:
        return h.record_run(
            RunKind.AWS, EU, [aws_obs(k) for k in keys], complete=True, finished_at=at(1)
        )

    def events(h: History) -> object:
        for n, k in enumerate(keys):
            h.record_monitor_alert(
                key_arn=k,
                status="exposed",
                event_id=f"e{n}",
                event_time=at(1),
                assessment=public_assessment(),
            )
        return None

    rows = _race(db_url, scan, events, scan, events)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.subject] = counts.get(r.subject, 0) + 1
    assert counts == dict.fromkeys(keys, 1)
    engine = open_database(db_url)
    with engine.connect() as conn:
        open_rows = conn.scalar(
            select(func.count()).select_from(FindingRow).where(FindingRow.status == "open")
        )
    engine.dispose()
    assert open_rows == len(keys)


def test_a_transaction_postgresql_aborts_as_a_deadlock_runs_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two recorders locking the same rows in turn can deadlock on PostgreSQL (a scan
    touching a finding another run is resolving): the loser's transaction runs again."""
    from sqlalchemy.exc import OperationalError

    h = History(open_database(db_url))
    real = h._open_or_touch
    failures = [0]

    class DeadlockError(Exception):
        sqlstate = "40P01"

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures[0] < 2:
            failures[0] += 1
            raise OperationalError("UPDATE findings", {}, DeadlockError("deadlock detected"))
        return real(*args, **kwargs)

    monkeypatch.setattr(h, "_open_or_touch", flaky)
    record = h.record_run(RunKind.AWS, EU, [aws_obs(KEY)], complete=True, finished_at=at(1))
    assert (record.opened, failures[0]) == (1, 2)
    assert len(h.runs()) == 1  # the aborted attempts left nothing behind
    monkeypatch.setattr(h, "_open_or_touch", lambda *a, **k: (_ for _ in ()).throw(
        OperationalError("x", {}, Exception("disk I/O error"))))
    with pytest.raises(StoreError):  # anything else is not retried
        h.record_run(RunKind.AWS, EU, [aws_obs(KEY)], complete=True, finished_at=at(2))
    h.engine.dispose()
