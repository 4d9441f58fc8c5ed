"""The project registry: repositories registered by path under their autopack.toml's id; refusals
write nothing; tokens limited to projects (queued runs are fair across projects on DBOS's
queue: tests/run/test_runs_queue.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from autopack.config import load_settings
from autopack.domain.vocabulary import TokenScope
from autopack.errors import ConfigError, NotFound, RepoError
from autopack.store.engine import Database
from autopack.store.progress import progress_after, record_progress
from autopack.store.projects import (
    ProjectClash,
    get_project,
    list_projects,
    project_settings,
    register_project,
)
from autopack.store.runs import create_run
from autopack.store.tokens import create_token, list_tokens, verify_token
from autopack.testing.runs import blueprint


def repository(root: Path, project_id: str) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "autopack.toml").write_text(f'[project]\nid = "{project_id}"\n')
    return root


def test_a_repository_is_registered_under_its_project_id_once(
    database: Database, tmp_path: Path
) -> None:
    root = repository(tmp_path / "alpha", "alpha")
    first = register_project(database, root / "." / ".." / "alpha")
    assert (first.project_id, first.repo_path) == ("alpha", root.resolve())
    assert first.registered_at is not None
    again = register_project(database, root)
    assert again == first
    assert [p.project_id for p in list_projects(database)] == ["alpha"]
    assert get_project(database, "alpha") == first
    with pytest.raises(NotFound, match="no project 'beta'"):
        get_project(database, "beta")


def test_a_project_made_by_older_runs_gets_its_path_when_registered(
    database: Database, tmp_path: Path
) -> None:
    create_run(database, blueprint("run-old"))  # project `demo`, no path
    (implicit,) = list_projects(database)
    assert (implicit.project_id, implicit.repo_path, implicit.registered_at) == ("demo", None, None)
    record = register_project(database, repository(tmp_path / "demo", "demo"))
    assert record.repo_path == (tmp_path / "demo").resolve()
    assert record.created_at == implicit.created_at


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda tmp: tmp / "missing", RepoError, "cannot be used"),
        (lambda tmp: _file(tmp / "file.txt"), RepoError, "not a directory"),
        (lambda tmp: _folder(tmp / "plain"), RepoError, "not the top of a git work tree"),
        (
            lambda tmp: _folder(repository(tmp / "outer", "outer") / "sub"),
            RepoError,
            "not the top of a git work tree",
        ),
        (lambda tmp: _bad_config(tmp / "bad"), ConfigError, "autopack.toml"),
    ],
    ids=["missing", "a file", "not a repository", "inside a repository", "bad autopack.toml"],
)
def test_unusable_paths_are_refused_and_nothing_is_written(
    database: Database, tmp_path: Path, make: object, error: type[Exception], message: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(error, match=message):
        register_project(database, path)
    assert list_projects(database) == []


def _file(path: Path) -> Path:
    path.write_text("not a repository")
    return path


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _bad_config(path: Path) -> Path:
    repository(path, "bad")
    (path / "autopack.toml").write_text("[project]\nid = 'Not An Id!'\n")
    return path


def test_an_id_registered_for_another_path_is_refused(database: Database, tmp_path: Path) -> None:
    first = register_project(database, repository(tmp_path / "one", "same"))
    with pytest.raises(ProjectClash, match=r"registered already for .*one"):
        register_project(database, repository(tmp_path / "two", "same"))
    assert list_projects(database) == [first]
    # A registered repository whose autopack.toml now names another project is refused too.
    (tmp_path / "one" / "autopack.toml").write_text('[project]\nid = "renamed"\n')
    with pytest.raises(ProjectClash, match="registered as project 'same'"):
        register_project(database, tmp_path / "one")
    assert list_projects(database) == [first]


def test_a_moved_repository_takes_its_id_along(database: Database, tmp_path: Path) -> None:
    register_project(database, repository(tmp_path / "old", "moving"))
    (tmp_path / "old").rename(tmp_path / "new")
    moved = register_project(database, tmp_path / "new")
    assert moved.repo_path == (tmp_path / "new").resolve()


def test_project_settings_use_this_process_database(database: Database, tmp_path: Path) -> None:
    own = load_settings(repository(tmp_path / "own", "own"))
    other = register_project(database, repository(tmp_path / "other", "other"))
    settings = project_settings(other, own)
    assert (settings.project.id, settings.repo_root) == ("other", other.repo_path)
    assert settings.database_url == own.database_url
    (tmp_path / "other" / "autopack.toml").write_text('[project]\nid = "else"\n')
    with pytest.raises(ConfigError, match="now names project 'else'"):
        project_settings(other, own)


def _queue(database: Database, run_id: str, project_id: str) -> None:
    run = blueprint(run_id).model_copy(update={"project_id": project_id, "queued": True})
    create_run(database, run)


def test_a_token_limited_to_projects_knows_them(database: Database, tmp_path: Path) -> None:
    register_project(database, repository(tmp_path / "a", "alpha"))
    register_project(database, repository(tmp_path / "b", "beta"))
    token, info = create_token(database, "alpha-only", TokenScope.WRITE, ["alpha"])
    assert info.projects == ("alpha",)
    seen = verify_token(database, token)
    assert seen is not None
    assert (seen.projects, seen.sees("alpha"), seen.sees("beta")) == (("alpha",), True, False)
    _, unlimited = create_token(database, "all", TokenScope.READ)
    assert (unlimited.projects, unlimited.sees("beta")) == (None, True)
    with pytest.raises(ConfigError, match="no project 'gamma'"):
        create_token(database, "nowhere", TokenScope.READ, ["alpha", "gamma"])
    # Refused whole: no token row without its limits.
    assert [t.name for t in list_tokens(database)] == ["all", "alpha-only"]


def test_the_all_runs_stream_of_a_limited_token_holds_its_projects_runs_only(
    database: Database,
) -> None:
    _queue(database, "mine", "alpha")
    _queue(database, "theirs", "beta")
    for run_id in ("mine", "theirs", "mine"):
        record_progress(database, run_id, "run_started", {})
    assert [e.run_id for e in progress_after(database, 0, project_ids=["alpha"])] == [
        "mine",
        "mine",
    ]
    assert [e.run_id for e in progress_after(database, 0)] == ["mine", "theirs", "mine"]
    assert progress_after(database, 0, project_ids=[]) == []
