"""Phase issues and the run index live in the run's files (issues/record.py writes them under a
lock); the tables that were meant to mirror them were never written by a run, and go.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("phase_issues", schema=None) as batch_op:
        batch_op.drop_index("ix_phase_issues_run_key")
    op.drop_table("phase_issues")
    op.drop_table("run_issues")


def downgrade() -> None:
    op.create_table(
        "run_issues",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("issue_key", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("effective_severity", sa.String(length=10), nullable=False),
        sa.Column("occurrence_count", sa.Integer(), nullable=False),
        sa.Column("first_phase_id", sa.String(length=64), nullable=False),
        sa.Column("last_phase_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"]),
        sa.PrimaryKeyConstraint("run_id", "issue_key"),
    )
    op.create_table(
        "phase_issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("phase_id", sa.String(length=64), nullable=False),
        sa.Column("issue_key", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("effective_severity", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id", "phase_id"], ["phases.run_id", "phases.phase_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("phase_issues", schema=None) as batch_op:
        batch_op.create_index("ix_phase_issues_run_key", ["run_id", "issue_key"], unique=False)
