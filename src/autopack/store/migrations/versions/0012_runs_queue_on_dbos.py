"""Runs wait on DBOS's runs queue, partitioned by project: the projects' last claim times, which
made Autopack's own claims fair, are no longer read.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), never a batch rebuild: SQLite refuses to rebuild
    # `projects` while runs, chains and backlog rows refer to it (see 0009).
    op.execute("ALTER TABLE projects DROP COLUMN last_claimed_at")


def downgrade() -> None:
    op.add_column(
        "projects", sa.Column("last_claimed_at", sa.DateTime(timezone=True), nullable=True)
    )
