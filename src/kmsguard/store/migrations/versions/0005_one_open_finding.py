"""At most one open episode per finding: a partial unique index on `findings.fingerprint`
where `status = 'open'`, so that two recorders writing at once cannot both open it.

A database in which that already happened is repaired first: the open rows of one
fingerprint become one, the oldest (earliest first seen, then lowest id, so its time to
remediate counts from the first sighting); it takes the newest row's last sighting and
description, the gate failures recorded against the others point to it, and the others
are deleted. A database without duplicates is not changed, so no KPI moves.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEX = "uq_findings_open_fingerprint"
OPEN = sa.text("status = 'open'")
#: what a later sighting updates on the open row (history.History._open_or_touch)
TOUCHED = (
    "last_seen", "resource", "account", "region", "display_source", "line", "verdict",
    "severity", "title", "remediation", "statements", "actions", "principals", "witness",
)  # fmt: skip

findings = sa.table(
    "findings",
    sa.column("id", sa.Integer),
    sa.column("fingerprint", sa.String),
    sa.column("status", sa.String),
    sa.column("first_seen", sa.DateTime(timezone=True)),
    *(sa.column(name) for name in TOUCHED),
)
blocked = sa.table(
    "blocked_findings", sa.column("finding_id", sa.Integer), sa.column("id", sa.Integer)
)


def merge_open_duplicates(bind: sa.Connection) -> int:
    """Merge the open rows of each fingerprint into its oldest; the number of rows removed."""
    doubled = (
        bind.execute(
            sa.select(findings.c.fingerprint)
            .where(findings.c.status == "open")
            .group_by(findings.c.fingerprint)
            .having(sa.func.count() > 1)
        )
        .scalars()
        .all()
    )
    removed = 0
    for fingerprint in doubled:
        rows = (
            bind.execute(
                sa.select(findings)
                .where(findings.c.fingerprint == fingerprint, findings.c.status == "open")
                .order_by(findings.c.first_seen, findings.c.id)
            )
            .mappings()
            .all()
        )
        keep, others = rows[0], rows[1:]
        newest = max(rows, key=lambda r: (r["last_seen"], r["id"]))
        bind.execute(
            findings.update()
            .where(findings.c.id == keep["id"])
            .values({name: newest[name] for name in TOUCHED})
        )
        ids = [r["id"] for r in others]
        bind.execute(
            blocked.update().where(blocked.c.finding_id.in_(ids)).values(finding_id=keep["id"])
        )
        bind.execute(findings.delete().where(findings.c.id.in_(ids)))
        removed += len(ids)
    return removed


def upgrade() -> None:
    bind = op.get_bind()
    if INDEX in {i["name"] for i in sa.inspect(bind).get_indexes("findings")}:
        return  # a database made with create_all from newer models
    merge_open_duplicates(bind)
    op.create_index(
        INDEX, "findings", ["fingerprint"], unique=True,
        sqlite_where=OPEN, postgresql_where=OPEN,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index(INDEX, table_name="findings")
