"""Open the database a repository uses, migrated to the newest schema before anything reads it."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from autopack.errors import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_SQLITE = Path(".autopack") / "autopack.db"
_SUPPORTED = ("sqlite", "postgresql")
# The execution option that marks the connections of Database.reading().
_READING = "autopack_reading"
SQLITE_READONLY = 8  # sqlite3's result code for a write refused by PRAGMA query_only
PG_READ_ONLY_TRANSACTION = "25006"  # read_only_sql_transaction


def database_url_for(repo_root: Path, env: Mapping[str, str]) -> str:
    """`AUTOPACK_DATABASE_URL` when set; otherwise SQLite at `<repo>/.autopack/autopack.db`."""
    url = env.get("AUTOPACK_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{repo_root / DEFAULT_SQLITE}"


def database_exists(url: str) -> bool:
    """False only for a SQLite file not created yet; servers are assumed to exist."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return True
    if parsed.get_backend_name() != "sqlite":
        return True
    return parsed.database in (None, "", ":memory:") or Path(parsed.database).exists()


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers (dashboard, CLI) run beside a writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _begin(connection: Connection) -> None:
    reading = bool(connection.get_execution_options().get(_READING, False))
    # query_only belongs to the pooled connection and outlives a transaction, so it is set before
    # every BEGIN where it differs (BEGIN IMMEDIATE itself is refused under it): a connection used
    # for a read never carries it into a write, and a write inside a read transaction is refused
    # by SQLite itself, whatever issued it.
    if connection.info.get("query_only") is not reading:
        connection.exec_driver_sql(f"PRAGMA query_only={'ON' if reading else 'OFF'}")
        connection.info["query_only"] = reading
    if reading:
        # Deferred: under WAL a reader takes no lock at all and sees the database as of its first
        # SELECT, so it never waits for a writer nor makes one wait.
        connection.exec_driver_sql("BEGIN")
    else:
        # SQLite's deferred BEGIN lets two writers read the same state; IMMEDIATE takes the write
        # lock first.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and its sessions; the one object store functions take."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # The same pool; on PostgreSQL the transaction is READ ONLY, so a write is refused by the
        # server there as SQLite's query_only refuses it (see _begin).
        readonly = {"postgresql_readonly": True} if engine.dialect.name == "postgresql" else {}
        self._reads = sessionmaker(
            engine.execution_options(**{_READING: True}, **readonly), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back entirely if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction: on SQLite it takes no lock, so it never waits for a writer.

        On SQLite its reads see one snapshot, the database as of its first read; on PostgreSQL
        each statement sees what was committed before it, as in `transaction()`. Any write in it
        is refused with a StoreError and nothing is written; code that reads then writes must use
        `transaction()`, whose lock keeps two writers from both acting on the same state.
        """
        try:
            with self._reads() as session, session.begin():
                yield session
        except DBAPIError as error:
            if not _refused_as_read_only(error):
                raise
            raise StoreError(
                "a write inside a read transaction (Database.reading) was refused and nothing "
                "was written; write in Database.transaction()"
            ) from error

    def close(self) -> None:
        self.engine.dispose()


def engine_for(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database URL {url!r} is not a valid URL") from None
    if parsed.get_backend_name() not in _SUPPORTED:
        raise StoreError(
            f"database {parsed.get_backend_name()!r} is not supported (use sqlite or postgresql+psycopg)"
        )
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(
                    f"cannot create the database directory for {parsed.database}: {error.strerror}"
                ) from None
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        # Take over BEGIN from pysqlite: IMMEDIATE for transaction(), deferred for reading().
        event.listen(engine, "connect", lambda conn, _rec: setattr(conn, "isolation_level", None))
        event.listen(engine, "begin", _begin)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def _refused_as_read_only(error: DBAPIError) -> bool:
    driver_error = error.orig
    return (
        getattr(driver_error, "sqlite_errorcode", None) == SQLITE_READONLY
        or getattr(driver_error, "sqlstate", None) == PG_READ_ONLY_TRANSACTION
    )


def migrate(engine: Engine) -> None:
    # Alembic is only needed when a database is opened; importing it lazily keeps the CLI quick.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


# Alembic keeps its running migration in module globals: two threads migrating at once corrupt
# each other. One lock per process, and a database migrated once here is not migrated again.
_MIGRATING = threading.Lock()
_MIGRATED: set[str] = set()


def open_database(url: str) -> Database:
    """Connect and apply any pending migration; every failure is one StoreError sentence."""
    engine = engine_for(url)
    try:
        with _MIGRATING:
            if url not in _MIGRATED:
                migrate(engine)
                _MIGRATED.add(url)
    except SQLAlchemyError as error:
        engine.dispose()
        shown = make_url(url).render_as_string(hide_password=True)
        raise StoreError(
            f"cannot open database {shown}: {error.__class__.__name__}: {_first_line(error)}"
        ) from None
    return Database(engine)


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else error.__class__.__name__
