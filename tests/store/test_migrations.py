"""The shipped Alembic revisions: they build exactly the models' schema, and they upgrade
an older database keeping its data (SQLite and PostgreSQL)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from kmsguard.model import Severity
from kmsguard.store import (
    Base,
    PolicyVersionStore,
    VersionReason,
    open_database,
    resolve_db_url,
)
from kmsguard.store.database import DB_ENV, default_db_url, migrate
from kmsguard.store.migrations import load_models
from kmsguard.store.models import as_utc

KEY = "arn:aws:kms:eu-west-1:111122223333:key/0000aaaa-0000-4000-8000-000000000001"


def test_upgrade_head_builds_exactly_the_models(db_url: str) -> None:
    """Every table declared on the store's Base, in any module of kmsguard.store, must be
    built by the revisions: a model change without a revision fails here."""
    load_models()
    assert {"scan_runs", "findings", "policy_versions"} <= set(Base.metadata.tables)
    engine = open_database(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert diff == [], f"models and migrations differ; add a revision: {diff}"


def test_a_model_change_without_a_revision_is_caught(db_url: str) -> None:
    """The comparison above can fail: a column the migrations do not create shows up."""
    from sqlalchemy import Column, Integer, MetaData, Table

    engine = open_database(db_url)
    extra = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(extra)
    Table("scan_runs", extra, Column("not_migrated", Integer), extend_existing=True)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), extra)
    engine.dispose()
    assert any(d[0] == "add_column" and d[3].name == "not_migrated" for d in diff)


def test_upgrading_a_first_revision_database_keeps_its_data(db_url: str) -> None:
    engine = create_engine(db_url)
    migrate(engine, "0001")
    assert "findings" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO policy_versions (key_arn, saved_at, sha256, policy, reason) "
                "VALUES (:k, :t, :h, :p, 'before-apply')"
            ),
            {"k": KEY, "t": datetime(2026, 1, 2, tzinfo=UTC), "h": "ab" * 32, "p": "{}"},
        )
    engine.dispose()

    upgraded = open_database(db_url)
    names = set(inspect(upgraded).get_table_names())
    assert {"scan_runs", "findings", "key_snapshots", "blocked_findings"} <= names
    versions = PolicyVersionStore(upgraded).versions(KEY)
    assert [(v.policy, v.reason) for v in versions] == [("{}", VersionReason.BEFORE_APPLY)]
    PolicyVersionStore(upgraded).save(KEY, '{"a":1}', VersionReason.APPLIED)
    assert len(PolicyVersionStore(upgraded).versions(KEY)) == 2
    upgraded.dispose()


def test_a_database_made_before_migrations_is_recognised(tmp_path: Path) -> None:
    """kmsguard 0.1 created policy_versions with create_all and no version table."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    from kmsguard.store.policy_versions import PolicyVersionRow

    PolicyVersionRow.__table__.create(engine)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO policy_versions (key_arn, saved_at, sha256, policy, reason) "
                "VALUES (:k, '2026-01-02 00:00:00', :h, '{}', 'applied')"
            ),
            {"k": KEY, "h": "cd" * 32},
        )
    engine.dispose()
    reopened = open_database(url)
    assert len(PolicyVersionStore(reopened).versions(KEY)) == 1
    assert "findings" in inspect(reopened).get_table_names()


def test_default_file_is_private_in_a_private_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv(DB_ENV, raising=False)
    url = resolve_db_url(None)
    assert url == f"sqlite:///{tmp_path / 'data' / 'kmsguard' / 'kmsguard.db'}"
    open_database(None).dispose()
    path = tmp_path / "data" / "kmsguard" / "kmsguard.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_environment_names_the_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DB_ENV, f"sqlite:///{tmp_path / 'env.db'}")
    assert resolve_db_url(None) == f"sqlite:///{tmp_path / 'env.db'}"
    assert resolve_db_url("sqlite:///x.db") == "sqlite:///x.db"
    open_database(None).dispose()
    assert (tmp_path / "env.db").exists()
    assert stat.S_IMODE((tmp_path / "env.db").stat().st_mode) == 0o600


def test_the_older_file_name_is_still_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    (tmp_path / "kmsguard").mkdir()
    (tmp_path / "kmsguard" / "kmsguard.sqlite3").touch()
    assert default_db_url() == f"sqlite:///{tmp_path / 'kmsguard' / 'kmsguard.sqlite3'}"


def test_monitor_tables_made_before_their_revision_are_kept(db_url: str) -> None:
    """The monitor creates its tables itself when missing: a database it used at revision
    0002 upgrades without error and keeps its rows."""
    from kmsguard.store.monitor_state import MonitorKeyRow

    engine = create_engine(db_url)
    migrate(engine, "0002")
    MonitorKeyRow.__table__.create(engine)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO monitor_keys (key_arn, version, verdict, updated_at, state) "
                "VALUES (:k, 1, 'private', :t, '{}')"
            ),
            {"k": KEY, "t": datetime(2026, 1, 2, tzinfo=UTC)},
        )
    engine.dispose()
    upgraded = open_database(db_url)
    with upgraded.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM monitor_keys")).scalar() == 1
    assert "monitor_events" in inspect(upgraded).get_table_names()
    upgraded.dispose()


def _downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    from kmsguard.store.migrations import alembic_config

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)


def _kpis(db_url: str, tmp_path: Path | None = None) -> dict[str, object]:
    from kmsguard.store import History
    from kmsguard.store.kpis import compute, kpis_json

    from .seed import at, seed

    h = History(open_database(db_url))
    if tmp_path is not None:
        seed(h, tmp_path)
    out = kpis_json(compute(h, now=at(50)))
    out.pop("generated_at")
    h.engine.dispose()
    return out


def test_0005_keeps_a_history_without_duplicates_and_its_kpis(
    db_url: str, tmp_path: Path
) -> None:
    before = _kpis(db_url, tmp_path)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows_before = conn.execute(text("SELECT * FROM findings ORDER BY id")).all()
    _downgrade(engine, "0004")  # the schema before the unique index, data kept
    assert "uq_findings_open_fingerprint" not in {
        i["name"] for i in inspect(engine).get_indexes("findings")
    }
    engine.dispose()
    assert _kpis(db_url) == before  # open_database upgrades it again
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM findings ORDER BY id")).all() == rows_before
    engine.dispose()


def test_0005_merges_open_duplicates_into_the_oldest(db_url: str, tmp_path: Path) -> None:
    """A database where two recorders both opened a finding (before 0005) upgrades: one
    open row, first seen at the earliest sighting, last seen at the latest, the gate
    failures of both; a resolved episode of the same finding is left alone."""
    from kmsguard.store import History, RunKind

    from .seed import at, iac_obs

    template = str(tmp_path / "keys.yaml")
    h = History(open_database(db_url))
    h.record_run(RunKind.IAC, [str(tmp_path)], [iac_obs(template, "Open")], complete=True,
                 finished_at=at(0))
    h.record_run(RunKind.IAC, [str(tmp_path)], [], complete=True, finished_at=at(1))
    h.record_run(RunKind.IAC, [str(tmp_path)], [iac_obs(template, "Open")], complete=True,
                 fail_on=Severity.HIGH, finished_at=at(5))
    h.engine.dispose()
    engine = create_engine(db_url)
    _downgrade(engine, "0004")
    copy = (
        "INSERT INTO findings (fingerprint, kind, subject, resource, detail_id, rule_id, "
        "scope_unit, account, region, display_source, line, verdict, severity, title, "
        "statements, actions, principals, witness, remediation, status, first_seen, "
        "last_seen, opened_by_run, opened_by_event) "
        "SELECT fingerprint, kind, subject, resource, detail_id, rule_id, scope_unit, "
        "account, region, display_source, line, verdict, :sev, title, statements, actions, "
        "principals, witness, remediation, status, :first, :last, opened_by_run, "
        "opened_by_event FROM findings WHERE id = :src"
    )
    with engine.begin() as conn:
        src = conn.scalar(text("SELECT id FROM findings WHERE status = 'open'"))
        # a twin opened earlier (the oldest: kept) and one seen later (its sighting kept)
        conn.execute(text(copy), {"sev": "high", "first": at(4), "last": at(4), "src": src})
        conn.execute(text(copy), {"sev": "medium", "first": at(6), "last": at(7), "src": src})
        later = conn.scalar(text("SELECT max(id) FROM findings"))
        run = conn.scalar(text("SELECT max(id) FROM scan_runs"))
        conn.execute(
            text(
                "INSERT INTO blocked_findings (run_id, finding_id, fingerprint, fail_on, "
                "blocked_at) SELECT :run, id, fingerprint, 'high', :t FROM findings "
                "WHERE id = :id"
            ),
            {"run": run, "id": later, "t": at(6)},
        )
        assert conn.scalar(text("SELECT count(*) FROM findings WHERE status = 'open'")) == 3
    engine.dispose()

    upgraded = History(open_database(db_url))
    rows = upgraded.findings()
    assert [r.status for r in rows] == ["resolved", "open"]
    kept = rows[1]
    assert (as_utc(kept.first_seen), as_utc(kept.last_seen)) == (at(4), at(7))
    assert kept.severity == "medium"  # the latest sighting's
    assert {b.finding_id for b in upgraded.blocked()} == {kept.id}
    assert len(upgraded.blocked()) == 2
    # and from now on a second open row is refused by the database itself
    with pytest.raises(Exception, match=r"(?i)unique"), upgraded.engine.begin() as conn:
        conn.execute(text(copy), {"sev": "low", "first": at(9), "last": at(9), "src": kept.id})
    upgraded.engine.dispose()
