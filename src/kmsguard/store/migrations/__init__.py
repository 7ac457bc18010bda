"""Alembic revisions of the store, run programmatically by `open_database` (no alembic.ini).

Add a revision after changing a model: `scripts/db-revision.py "message"` autogenerates
one against a scratch SQLite database at the current head; review it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

HERE = Path(__file__).resolve().parent
#: the schema kmsguard had before migrations: policy_versions only
FIRST_REVISION = "0001"


def load_models() -> None:
    """Import every module of `kmsguard.store`, so that `Base.metadata` holds every table
    declared on it (a table declared without a revision then shows up as a difference)."""
    import importlib
    import pkgutil

    from kmsguard import store

    for info in pkgutil.iter_modules(store.__path__):
        if info.name != "migrations":
            importlib.import_module(f"kmsguard.store.{info.name}")


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config
