"""Chains: a plan larger than `run.max_phases` runs as consecutive runs, each a part of a chain.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_chains",
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("plan_path", sa.Text(), nullable=True),
        sa.Column("parts_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.project_id"]),
        sa.PrimaryKeyConstraint("chain_id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        # Adding a foreign key in batch mode rebuilds `runs` (copy, drop, rename), which SQLite
        # refuses while tiers, phases and events refer to its rows; a nullable column may carry
        # its REFERENCES clause in a plain ADD COLUMN, which rebuilds nothing.
        op.execute(
            "ALTER TABLE runs ADD COLUMN chain_id VARCHAR(64) "
            "CONSTRAINT fk_runs_chain_id REFERENCES run_chains (chain_id)"
        )
        op.add_column("runs", sa.Column("chain_part", sa.Integer(), nullable=True))
        op.create_index("ix_runs_chain_id", "runs", ["chain_id"], unique=False)
        return
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("chain_part", sa.Integer(), nullable=True))
        batch_op.create_index("ix_runs_chain_id", ["chain_id"], unique=False)
        batch_op.create_foreign_key("fk_runs_chain_id", "run_chains", ["chain_id"], ["chain_id"])


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_runs_chain_id", type_="foreignkey")
        batch_op.drop_index("ix_runs_chain_id")
        batch_op.drop_column("chain_part")
        batch_op.drop_column("chain_id")
    op.drop_table("run_chains")
