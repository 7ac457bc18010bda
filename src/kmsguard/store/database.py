"""The one database of kmsguard: URL resolution, engine creation, schema migrations and the
declarative base every table of the store derives from.

`open_database` brings any database to the newest schema with the Alembic revisions shipped
in `migrations/` (a database made before migrations existed is recognised and upgraded)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

from kmsguard.errors import ExitCode, InputError

APP_NAME = "kmsguard"
#: the environment variable that names the database when `--db` is not given
DB_ENV = "KMSGUARD_DB"
DB_FILE = "kmsguard.db"
#: the file name used before the history store (policy versions only); still opened
LEGACY_DB_FILE = "kmsguard.sqlite3"
#: how long a SQLite writer waits for another one to commit
SQLITE_BUSY_SECONDS = 60.0


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


class DatabaseUnavailableError(StoreError):
    """The database `--db` / KMSGUARD_DB names cannot be reached or opened: the user's
    setting to correct (exit 2)."""

    exit_code = ExitCode.USAGE


def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_db_url() -> str:
    """`sqlite:///<user data dir>/kmsguard.db` (or the older `kmsguard.sqlite3` when only
    that one exists, so saved policy versions stay found)."""
    folder = user_data_dir()
    if not (folder / DB_FILE).exists() and (folder / LEGACY_DB_FILE).exists():
        return f"sqlite:///{folder / LEGACY_DB_FILE}"
    return f"sqlite:///{folder / DB_FILE}"


def resolve_db_url(url: str | None) -> str:
    """`--db`, else `KMSGUARD_DB`, else the default SQLite file."""
    return url or os.environ.get(DB_ENV) or default_db_url()


def _enable_sqlite_durability(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: object, _record: object) -> None:
        cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]  # DB-API connection
        # FULL: a committed saved version survives a crash or power loss right after.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _prepare_sqlite_file(path: Path, *, private_folder: bool) -> None:
    """Create the folder (0700 when it is ours) and the file (0600) before SQLite does:
    the history names keys, accounts and policies."""
    try:
        if private_folder:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.parent.chmod(0o700)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)
    except OSError as exc:
        raise StoreError(
            f"cannot create the database file `{path}`: {exc.strerror}",
            hint="pass another location with --db sqlite:////path/kmsguard.db",
        ) from exc


def open_database(url: str | None = None) -> Engine:
    """Create the engine for `url` (else KMSGUARD_DB, else the default SQLite file) and
    migrate the schema to the newest revision."""
    url = resolve_db_url(url)
    uri_form = url.startswith("sqlite:///file:")  # e.g. ?mode=ro&uri=true: not a path to make
    if (
        url.startswith("sqlite:///")
        and url not in ("sqlite:///:memory:", "sqlite://")
        and not uri_form
    ):
        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        # a folder kmsguard creates is 0700; one the user made is left as it is
        private = path.parent == user_data_dir() or not path.parent.exists()
        _prepare_sqlite_file(path, private_folder=private)
    try:
        sqlite = url.startswith("sqlite")
        # another recorder holding the write lock (a scan recording thousands of keys) is
        # waited for, not an error: SQLite's default wait is 5 s
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS} if sqlite else {})
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        hint = "use e.g. sqlite:////path/to/kmsguard.db or postgresql+psycopg://user@host/db"
        if isinstance(exc, ImportError) or "psycopg" in str(exc):
            hint = "for PostgreSQL install the extra: pip install 'kmsguard[postgres]'"
        raise InputError(f"`{_redact(url)}` is not a usable database url", hint=hint) from exc
    if engine.dialect.name == "sqlite":
        _enable_sqlite_durability(engine)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(
            f"cannot open the database `{db_name(engine)}`: {describe_db_error(exc)[:300]}",
            hint=f"check --db / {DB_ENV}: the file must be a kmsguard database, readable and "
            "writable, on a disk with free space (a server: running and reachable)",
        ) from exc
    return engine


def _redact(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has no password to hide
        return url


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision` with the shipped Alembic revisions."""
    from alembic import command

    from .migrations import FIRST_REVISION, alembic_config

    with engine.begin() as connection:
        config = alembic_config(connection)
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" not in tables and "policy_versions" in tables:
            # made by kmsguard before migrations (create_all): it is the first revision
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, revision)
