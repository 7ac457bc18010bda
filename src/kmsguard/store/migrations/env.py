"""Alembic environment: the connection is handed in by `kmsguard.store.database.migrate`."""

from __future__ import annotations

from alembic import context

from kmsguard.store.database import Base
from kmsguard.store.migrations import load_models

load_models()  # every table declared on Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through kmsguard.store.database
    raise RuntimeError("kmsguard migrations run through kmsguard.store.open_database")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
