"""What the environment decides (the database, the clocks) is read once into Settings: the
environment over autopack.toml over the defaults, this process's own when a stored run is thawed,
and never stored with a run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from autopack.config import load_settings
from autopack.demo.project import create_project
from autopack.errors import ConfigError
from autopack.plan.load import load_plan
from autopack.run.create import create_run_from_plan
from autopack.run.services import RunOptions, run_services
from autopack.store.engine import open_database
from autopack.store.runs import frozen_settings

SECRET_URL = "postgresql+psycopg://autopack:s3cret-pw@db.example/autopack"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_without_environment_or_toml_the_defaults_hold(repo: Path) -> None:
    settings = load_settings(repo, env={})
    assert settings.database_url == f"sqlite:///{repo.resolve() / '.autopack' / 'autopack.db'}"
    assert settings.runtime.worker_poll_seconds == 0.5
    assert settings.runtime.heartbeat_seconds == 5
    assert settings.runtime.stale_seconds == 60


def test_toml_sets_the_clocks_and_the_environment_overrides_it(repo: Path) -> None:
    (repo / "autopack.toml").write_text(
        "[runtime]\nworker_poll_seconds = 2\nheartbeat_seconds = 3\nstale_seconds = 90\n"
    )
    from_toml = load_settings(repo, env={})
    assert (from_toml.runtime.worker_poll_seconds, from_toml.runtime.heartbeat_seconds) == (2, 3)
    assert from_toml.runtime.stale_seconds == 90

    env = {
        "AUTOPACK_DATABASE_URL": SECRET_URL,
        "AUTOPACK_WORKER_POLL_SECONDS": "0.25",
        "AUTOPACK_HEARTBEAT_SECONDS": "0.5",
    }
    from_env = load_settings(repo, env=env)
    assert from_env.database_url == SECRET_URL
    assert from_env.runtime.worker_poll_seconds == 0.25
    assert from_env.runtime.heartbeat_seconds == 0.5
    assert from_env.runtime.stale_seconds == 90  # not in the environment: the toml's


def test_the_process_environment_is_read_when_no_env_is_given(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOPACK_DATABASE_URL", SECRET_URL)
    monkeypatch.setenv("AUTOPACK_STALE_SECONDS", "120")
    settings = load_settings(repo)
    assert settings.database_url == SECRET_URL
    assert settings.runtime.stale_seconds == 120


def test_a_bad_environment_value_names_its_variable(repo: Path) -> None:
    with pytest.raises(ConfigError, match="AUTOPACK_HEARTBEAT_SECONDS='soon'"):
        load_settings(repo, env={"AUTOPACK_HEARTBEAT_SECONDS": "soon"})
    with pytest.raises(ConfigError, match="AUTOPACK_WORKER_POLL_SECONDS='0'"):
        load_settings(repo, env={"AUTOPACK_WORKER_POLL_SECONDS": "0"})


def test_a_run_cannot_go_stale_before_its_next_heartbeat(repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"stale_seconds .* must exceed"):
        load_settings(repo, env={"AUTOPACK_HEARTBEAT_SECONDS": "60"})


def test_the_database_url_is_not_an_autopack_toml_key(repo: Path) -> None:
    (repo / "autopack.toml").write_text(f'database_url = "{SECRET_URL}"\n')
    with pytest.raises(ConfigError, match="AUTOPACK_DATABASE_URL"):
        load_settings(repo, env={})


def test_the_database_url_is_neither_dumped_nor_shown(repo: Path) -> None:
    settings = load_settings(repo, env={"AUTOPACK_DATABASE_URL": SECRET_URL})
    assert "s3cret" not in settings.model_dump_json()
    assert "s3cret" not in repr(settings)
    assert "database_url" not in settings.model_dump()


def test_a_stored_run_keeps_no_database_url_and_is_thawed_with_this_process_own(
    tmp_path: Path,
) -> None:
    root = tmp_path / "calc"
    plan = create_project(root, extra_config="[runtime]\nheartbeat_seconds = 7\n")
    database_file = tmp_path / "shared.db"
    creator = load_settings(root, env={"AUTOPACK_DATABASE_URL": SECRET_URL})
    database = open_database(f"sqlite:///{database_file}")
    try:
        run_id = create_run_from_plan(creator, database, load_plan(plan)).run_id
        stored = frozen_settings(database, run_id)
    finally:
        database.close()
    assert stored is not None
    assert "s3cret" not in stored
    assert not {"database_url", "runtime"} & set(json.loads(stored))

    # Another process (a worker elsewhere) resumes the run: its own URL and clocks, the run's
    # own frozen settings for the rest, even after autopack.toml changed.
    (root / "autopack.toml").write_text(
        (root / "autopack.toml").read_text().replace('id = "calc-demo"', 'id = "renamed"')
    )
    worker_url = f"sqlite:///{database_file}"
    current = load_settings(
        root, env={"AUTOPACK_DATABASE_URL": worker_url, "AUTOPACK_HEARTBEAT_SECONDS": "2"}
    )
    with run_services(run_id, current, RunOptions(no_sandbox=True)) as services:
        assert services.settings.database_url == worker_url
        assert services.settings.runtime.heartbeat_seconds == 2
        assert services.settings.project.id == "calc-demo"
        assert services.settings.repo_root == root.resolve()


def test_providers_rate_limits_come_from_toml_and_the_environment_replaces_them(
    repo: Path,
) -> None:
    (repo / "autopack.toml").write_text(
        "[runtime.rate_limits.anthropic]\nrequests = 50\n\n"
        "[runtime.rate_limits.openai]\nrequests = 500\nseconds = 10\n"
    )
    limits = load_settings(repo, env={}).runtime.rate_limits
    assert {p.value: (limit.requests, limit.seconds) for p, limit in limits.items()} == {
        "anthropic": (50, 60),
        "openai": (500, 10),
    }
    overridden = load_settings(repo, env={"AUTOPACK_RATE_LIMITS": "openai=5/2.5, anthropic=7"})
    assert {
        p.value: (limit.requests, limit.seconds)
        for p, limit in overridden.runtime.rate_limits.items()
    } == {"openai": (5, 2.5), "anthropic": (7, 60)}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("openai", "is not PROVIDER=REQUESTS"),
        ("openai=5/", "is not PROVIDER=REQUESTS"),
        ("=5", "is not PROVIDER=REQUESTS"),
        ("gemini=5", "rate_limits.gemini"),
        ("openai=0", "greater than or equal to 1"),
        ("openai=5/0", "greater than 0"),
        ("openai=many", "valid integer"),
    ],
)
def test_a_bad_rate_limit_names_its_variable_and_what_is_wrong(
    repo: Path, value: str, says: str
) -> None:
    with pytest.raises(ConfigError, match="AUTOPACK_RATE_LIMITS") as raised:
        load_settings(repo, env={"AUTOPACK_RATE_LIMITS": value})
    assert says in str(raised.value)
