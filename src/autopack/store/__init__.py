"""Persistence: SQLAlchemy tables, Alembic migrations, and transactional state changes with events."""
