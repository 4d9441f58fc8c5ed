"""DBOS's queue claims on SQLite, made atomic across processes.

DBOS 3.4.0 claims queued workflows in one transaction that first counts what the queue's limits
allow (workflows pending for `global_concurrency`, starts in the window for a `limiter`), then
marks the next ones PENDING. On SQLite it relies on pysqlite's implicit `BEGIN IMMEDIATE`, which
Python 3.11's sqlite3 issues only before the first INSERT/UPDATE/DELETE: the counting SELECTs run
outside any transaction. Two processes can both count room for one, then each claim a different
row (two partitions of the runs queue, two permits of a provider's queue), and a global limit of
1 runs two. Seen here: two `autopack worker`s ran two runs at once past a limit of 1, and 8
concurrent claimers took 8 rows of a queue limited to 1.

The claim transaction is DBOS's `SystemDatabase._begin` (only the dequeue uses it); on SQLite it
here takes the write lock at its start, so the count and the claim are one serialised step. This
replaces an internal method: tests/run/test_dbos_sqlite_claims.py races the claims and fails if a
DBOS upgrade changes what this relies on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dbos._sys_db_sqlite import SQLiteSystemDatabase


@contextmanager
def _claim_transaction(
    self: SQLiteSystemDatabase, isolation: str | None
) -> Iterator[sa.Connection]:
    # The isolation level is PostgreSQL's (REPEATABLE READ, SERIALIZABLE): SQLite's one writer
    # at a time gives what both ask for.
    with self.engine.connect() as connection, connection.begin():
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection


def make_sqlite_queue_claims_atomic() -> None:
    """For every DBOS SQLite system database of this process; idempotent."""
    SQLiteSystemDatabase._begin = _claim_transaction  # type: ignore[method-assign,assignment]
