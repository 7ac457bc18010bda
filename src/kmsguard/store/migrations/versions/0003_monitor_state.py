"""The monitor"s state: events seen (idempotence by eventID) and the last state per key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 00:43:02.860384
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("monitor_events",
    sa.Column("event_id", sa.String(length=256), nullable=False),
    sa.Column("key_arn", sa.String(length=2048), nullable=True),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("alerts", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("event_id")
    )
    with op.batch_alter_table("monitor_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitor_events_key_arn"), ["key_arn"], unique=False)

    op.create_table("monitor_keys",
    sa.Column("key_arn", sa.String(length=2048), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("verdict", sa.String(length=32), nullable=False),
    sa.Column("last_event_time", sa.String(length=40), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("key_arn")
    )


def downgrade() -> None:
    op.drop_table("monitor_keys")
    with op.batch_alter_table("monitor_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_events_key_arn"))

    op.drop_table("monitor_events")
