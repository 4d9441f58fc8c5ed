"""Alembic environment: migrations run on the connection `open_database` hands over."""

from __future__ import annotations

from alembic import context

from autopack.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("autopack migrations run through autopack.store.engine.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
