"""Saved policy versions record the sha256 of their backup file's bytes (the backup carries
the row's binding digest in turn), so a rollback notices a row or backup edited alone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 00:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("policy_versions")}
    if "backup_sha256" in columns:  # a database made with create_all from newer models
        return
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backup_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_column("backup_sha256")
