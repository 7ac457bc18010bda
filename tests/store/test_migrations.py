"""The shipped Alembic revisions: they build exactly the models' schema, and they upgrade
an older database keeping its data (SQLite and PostgreSQL)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from kmsguard.store import (
    Base,
    PolicyVersionStore,
    VersionReason,
    open_database,
    resolve_db_url,
)
from kmsguard.store.database import DB_ENV, default_db_url, migrate
from kmsguard.store.migrations import load_models

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
