"""Opening a database creates or upgrades it; the migrations match the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from autopack.errors import StoreError
from autopack.store.engine import Database, database_url_for, open_database
from autopack.store.schema import Base

TABLES = {
    "projects",
    "runs",
    "tiers",
    "phases",
    "attempts",
    "backlog_issues",
    "llm_calls",
    "events",
}


def test_migrations_create_every_table(database: Database) -> None:
    assert set(inspect(database.engine).get_table_names()) >= TABLES


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_opening_twice_is_harmless(database_url: str) -> None:
    for _ in range(2):
        opened = open_database(database_url)
        with opened.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == "0014"
        opened.close()


def test_default_is_sqlite_inside_the_repo_created_on_first_use(git_repo: Path) -> None:
    url = database_url_for(git_repo, {})
    assert url == f"sqlite:///{git_repo / '.autopack' / 'autopack.db'}"
    assert not (git_repo / ".autopack").exists()
    open_database(url).close()
    assert (git_repo / ".autopack" / "autopack.db").is_file()


def test_environment_selects_the_database(git_repo: Path) -> None:
    url = "postgresql+psycopg://autopack@db.internal/autopack"
    assert database_url_for(git_repo, {"AUTOPACK_DATABASE_URL": url}) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a valid URL"),
        ("mysql://u@h/d", "'mysql' is not supported"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open database"),
    ],
)
def test_bad_database_urls_are_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        open_database(url)


def test_unwritable_sqlite_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the database directory"):
        open_database(f"sqlite:///{blocker / 'sub' / 'autopack.db'}")


@pytest.mark.parametrize("revision", ["0001", "0008", "0010"])
def test_upgrading_an_older_database_keeps_its_runs(database_url: str, revision: str) -> None:
    # A run with a tier: tables that refer to runs must survive any rebuild of the runs table
    # (SQLite checks foreign keys while a migration copies a table).
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from autopack.store.engine import MIGRATIONS_DIR, engine_for
    from autopack.store.runs import get_run

    engine = engine_for(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.execute(
            text("INSERT INTO projects (project_id, created_at) VALUES ('demo', CURRENT_TIMESTAMP)")
        )
        connection.execute(
            text(
                "INSERT INTO runs (run_id, project_id, plan_title, safety_profile, run_scope, state, strategy_json,"
                " created_at, updated_at) VALUES ('old-run', 'demo', 'Old', 'normal', 'multi_tier',"
                " 'DONE_SUCCESS', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO tiers (run_id, tier_id, name, position, state)"
                " VALUES ('old-run', 't1', 'Tier', 1, 'PENDING')"
            )
        )
    engine.dispose()
    upgraded = open_database(database_url)
    run = get_run(upgraded, "old-run")
    assert (run.plan_title, run.base_branch, run.sandbox) == ("Old", None, None)
    assert [tier.tier_id for tier in run.tiers] == ["t1"]
    upgraded.close()
