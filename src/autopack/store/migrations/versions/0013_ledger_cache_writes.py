"""Ledger rows record the tokens each call wrote to the provider's prompt cache.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, never a batch rebuild (see 0012): rows written before it wrote nothing.
    op.add_column(
        "llm_calls",
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE llm_calls DROP COLUMN cache_write_tokens")
