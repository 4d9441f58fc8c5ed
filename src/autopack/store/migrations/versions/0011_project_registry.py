"""The project registry: a server serves every registered repository, each by its path; claims are
fair across projects; a token may be limited to some projects.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and a unique index, never a batch rebuild: SQLite refuses to rebuild
    # `projects` while runs, chains and backlog rows refer to it (see 0009).
    # Rows made implicitly by runs before this revision have neither path nor registration time.
    op.add_column("projects", sa.Column("repo_path", sa.Text(), nullable=True))
    op.add_column("projects", sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "projects", sa.Column("last_claimed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_projects_repo_path", "projects", ["repo_path"], unique=True)
    op.create_table(
        "api_token_projects",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.token_id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.project_id"]),
        sa.PrimaryKeyConstraint("token_id", "project_id"),
    )


def downgrade() -> None:
    op.drop_table("api_token_projects")
    op.drop_index("ix_projects_repo_path", table_name="projects")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("last_claimed_at")
        batch_op.drop_column("registered_at")
        batch_op.drop_column("repo_path")
