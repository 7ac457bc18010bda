#!/usr/bin/env python3
"""`.venv/bin/python scripts/db-revision.py "what changed"`: autogenerate a revision from the
difference between the models and a scratch SQLite database at the current head. Review
the file it writes in `versions/` (rename the revision id to the next number) before
committing it."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print('usage: scripts/db-revision.py "what changed"', file=sys.stderr)
        return 2
    from alembic import command
    from sqlalchemy import create_engine

    from kmsguard.store.database import migrate

    from kmsguard.store.migrations import alembic_config

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        migrate(engine)
        with engine.begin() as connection:
            command.revision(alembic_config(connection), message=argv[0], autogenerate=True)
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
