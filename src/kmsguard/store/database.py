"""The one database of kmsguard: URL resolution, engine creation and the declarative base
every table of the store derives from (policy versions today; findings history later)."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

from kmsguard.errors import InputError, KmsguardError

APP_NAME = "kmsguard"


class Base(DeclarativeBase):
    """Declarative base shared by every table of the store."""


class StoreError(KmsguardError):
    """The local database could not be opened, read or written."""


def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_db_url() -> str:
    """`sqlite:///<user data dir>/kmsguard.sqlite3`."""
    return f"sqlite:///{user_data_dir() / 'kmsguard.sqlite3'}"


def _enable_sqlite_durability(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: object, _record: object) -> None:
        cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]  # DB-API connection
        # FULL: a committed saved version survives a crash or power loss right after.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def open_database(url: str | None = None) -> Engine:
    """Create the engine for `url` (default: the SQLite file) and create missing tables."""
    url = url or default_db_url()
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the database folder `{path.parent}`: {exc.strerror}"
            ) from exc
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError) as exc:
        raise InputError(
            f"`{url}` is not a usable database url",
            hint="use e.g. sqlite:////path/to/kmsguard.sqlite3",
        ) from exc
    if engine.dialect.name == "sqlite":
        _enable_sqlite_durability(engine)
    try:
        Base.metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the database `{url}`: {exc.__class__.__name__}") from exc
    return engine
