"""Attempts offered to remote Builders, which claim them under a lease and submit a patch.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remote_offers",
        sa.Column("offer_id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("phase_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("base_commit", sa.String(64), nullable=False),
        sa.Column("task_json", sa.Text(), nullable=False),
        sa.Column("policy_json", sa.Text(), nullable=False),
        sa.Column("allowance_tokens", sa.Integer(), nullable=False),
        sa.Column("allowance_usd", sa.Numeric(14, 6), nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("lease_sha256", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submission_json", sa.Text(), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id", "phase_id"], ["phases.run_id", "phases.phase_id"]),
        sa.UniqueConstraint("run_id", "phase_id", "attempt"),
    )
    op.create_index("ix_remote_offers_status", "remote_offers", ["status"])


def downgrade() -> None:
    op.drop_index("ix_remote_offers_status", table_name="remote_offers")
    op.drop_table("remote_offers")
