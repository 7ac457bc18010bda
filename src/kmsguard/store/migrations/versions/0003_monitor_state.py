"""The monitor's state tables (kmsguard.store.monitor_state): handled events and the last
applied state of every key.

The monitor creates them itself when they are missing (`SqlMonitorState`), so a database
it used before this revision already has them: they are created here only if absent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "monitor_events" not in existing:
        op.create_table(
            "monitor_events",
            sa.Column("event_id", sa.String(length=256), nullable=False),
            sa.Column("key_arn", sa.String(length=2048), nullable=True),
            sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("alerts", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("event_id"),
        )
        op.create_index("ix_monitor_events_key_arn", "monitor_events", ["key_arn"])
    if "monitor_keys" not in existing:
        op.create_table(
            "monitor_keys",
            sa.Column("key_arn", sa.String(length=2048), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("verdict", sa.String(length=32), nullable=False),
            sa.Column("last_event_time", sa.String(length=40), nullable=True),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("state", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("key_arn"),
        )


def downgrade() -> None:
    op.drop_table("monitor_keys")
    op.drop_index("ix_monitor_events_key_arn", table_name="monitor_events")
    op.drop_table("monitor_events")
