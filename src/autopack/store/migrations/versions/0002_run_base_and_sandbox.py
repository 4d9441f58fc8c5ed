"""Runs remember the branch and commit they started from, and which sandbox ran their CI.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_branch", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("base_commit", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sandbox", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("sandbox")
        batch_op.drop_column("base_commit")
        batch_op.drop_column("base_branch")
