"""The one database of kmsguard: URL resolution, engine creation and the declarative base
every table of the store derives from (policy versions today; findings history later)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

from kmsguard.errors import InputError
from kmsguard.safeio import private_dir

APP_NAME = "kmsguard"


class Base(DeclarativeBase):
    """Declarative base shared by every table of the store."""


class StoreError(InputError):
    """The local database (or backup folder) could not be opened, read or written: a
    read-only, corrupt or full file is the user's to fix (exit 2), named in the message."""


def describe_db_error(exc: BaseException) -> str:
    """What SQLite said (`attempt to write a readonly database`, `file is not a
    database`, `database or disk is full`), not just the exception class."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc).split("\n", 1)[0]
    return f"{type(orig or exc).__name__}: {text}"


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite database file (also of a `file:...?mode=ro&uri=true` URI), if any."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database)


def db_name(engine: Engine) -> str:
    """The database as the user knows it: the SQLite file, or the URL without password."""
    path = sqlite_file(engine)
    return str(path) if path is not None else engine.url.render_as_string(hide_password=True)


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
    """Create the engine for `url` (default: the SQLite file) and create missing tables.
    A new SQLite file is created 0600 in a folder created 0700: it holds key policies."""
    url = url or default_db_url()
    name = url
    plain_path = "?" not in url and not url.startswith("sqlite:///file:")  # not a URI form
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:" and plain_path:
        path = Path(url.removeprefix("sqlite:///"))
        name = str(path)
        try:
            private_dir(path.parent)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(
                f"cannot create the database `{path}`: {exc.strerror}",
                hint="pass --db with a writable location",
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
        _add_missing_columns(engine)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot open the database `{name}`: {describe_db_error(exc)}",
            hint="check that the file is a kmsguard database, readable and writable, "
            "on a disk with free space (or pass --db)",
        ) from exc
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Columns added since a table was created (SQLite's ALTER TABLE ADD COLUMN)."""
    found = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if not found.has_table(table.name):
                continue
            have = {c["name"] for c in found.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    ddl = f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'
                    conn.execute(text(ddl))
