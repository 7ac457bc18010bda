"""History: scan runs, findings with their lifecycle, key snapshots, blocked IaC findings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scan_runs_kind", "scan_runs", ["kind"])
    op.create_index("ix_scan_runs_finished_at", "scan_runs", ["finished_at"])
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=True),
        sa.Column("detail_id", sa.Text(), nullable=True),
        sa.Column("rule_id", sa.String(length=16), nullable=False),
        sa.Column("scope_unit", sa.Text(), nullable=False),
        sa.Column("account", sa.String(length=12), nullable=True),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("display_source", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("statements", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("principals", sa.Text(), nullable=False),
        sa.Column("witness", sa.Text(), nullable=True),
        sa.Column("remediation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by_run", sa.Integer(), nullable=True),
        sa.Column("opened_by_event", sa.Text(), nullable=True),
        sa.Column("resolved_by_run", sa.Integer(), nullable=True),
        sa.Column("resolved_by_event", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["opened_by_run"], ["scan_runs.id"]),
        sa.ForeignKeyConstraint(["resolved_by_run"], ["scan_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_findings_fingerprint_status", "findings", ["fingerprint", "status"])
    op.create_index("ix_findings_rule_id", "findings", ["rule_id"])
    op.create_index("ix_findings_status", "findings", ["status"])
    op.create_table(
        "key_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key_arn", sa.Text(), nullable=False),
        sa.Column("account", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("manager", sa.String(length=16), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("owner_tag", sa.Boolean(), nullable=True),
        sa.Column("aliases", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["scan_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_key_snapshots_run_id", "key_snapshots", ["run_id"])
    op.create_table(
        "blocked_findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("fail_on", sa.String(length=16), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["finding_id"], ["findings.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["scan_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_blocked_findings_run_id", "blocked_findings", ["run_id"])
    op.create_index("ix_blocked_findings_finding_id", "blocked_findings", ["finding_id"])
    op.create_index("ix_blocked_findings_fingerprint", "blocked_findings", ["fingerprint"])


def downgrade() -> None:
    op.drop_table("blocked_findings")
    op.drop_table("key_snapshots")
    op.drop_table("findings")
    op.drop_table("scan_runs")
