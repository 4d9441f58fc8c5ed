"""The project registry: the repositories a server serves, each by its absolute path.

A project's id is its autopack.toml's `[project] id`; its path is the top of its git work tree.
Runs, chains and backlog rows made before a project was registered created a row without a path:
registering the repository later fills it in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from autopack.config import Settings, load_settings
from autopack.errors import ConfigError, NotFound, RepoError
from autopack.store.engine import Database
from autopack.store.schema import ProjectRow, RunRow, utc_now


class ProjectClash(ConfigError):
    """The project id or the path is registered already, to another path or id."""


class ProjectRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    project_id: str
    repo_path: Path | None
    registered_at: datetime | None
    created_at: datetime

    @property
    def registered(self) -> bool:
        return self.repo_path is not None


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite gives back what it stored without its zone; every time here is UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _record(row: ProjectRow) -> ProjectRecord:
    created = _aware(row.created_at)
    assert created is not None
    return ProjectRecord(
        project_id=row.project_id,
        repo_path=Path(row.repo_path) if row.repo_path is not None else None,
        registered_at=_aware(row.registered_at),
        created_at=created,
    )


def repository_top(path: Path) -> Path:
    """`path` resolved, if it is the top of a git work tree; otherwise one RepoError sentence."""
    from autopack.workspace.git_cli import GitCli

    try:
        resolved = path.expanduser().resolve(strict=True)
        if not resolved.is_dir():
            raise RepoError(f"{path} is not a directory, so not a git repository")
        if not os.access(resolved, os.R_OK | os.X_OK):
            raise RepoError(f"{path} cannot be read by this process")
        if not (resolved / ".git").exists():
            raise RepoError(f"{path} is not the top of a git work tree (no .git there)")
    except OSError as error:  # missing, a loop of links, a name over the filesystem's limits
        raise RepoError(f"{path} cannot be used: {error.strerror or error}") from None
    except ValueError:  # a NUL byte, or text the filesystem cannot encode (a lone surrogate)
        raise RepoError(f"{str(path)[:80]!r} is not a usable path") from None
    # git itself says where the work tree's top is; a .git file of a submodule or worktree counts.
    GitCli(resolved, resolved / ".autopack" / "worktrees")
    return resolved


def register_project(
    database: Database, path: Path, env: Mapping[str, str] | None = None
) -> ProjectRecord:
    """Register the repository at `path` under its autopack.toml's project id; registering the
    same path again changes nothing. Refused, with nothing written: a path that is not the top of
    a git work tree, an invalid autopack.toml, an id registered to another path, a path registered
    under another id."""
    root = repository_top(path)
    project_id = load_settings(root, env).project.id
    try:
        with database.transaction() as session:
            row = session.get(ProjectRow, project_id)
            holder = session.scalars(
                select(ProjectRow).where(ProjectRow.repo_path == str(root))
            ).first()
            if holder is not None and holder.project_id != project_id:
                raise ProjectClash(
                    f"{root} is registered as project {holder.project_id!r}, and its "
                    f"autopack.toml now says {project_id!r}: one repository is one project"
                )
            moved = row is not None and row.repo_path is not None and not _exists(row.repo_path)
            if row is not None and moved:
                # The repository was moved (or its old clone deleted): the id follows it.
                row.repo_path, row.registered_at = None, None
            if row is not None and row.repo_path not in (None, str(root)):
                raise ProjectClash(
                    f"project id {project_id!r} (from {root / 'autopack.toml'}) is registered "
                    f"already for {row.repo_path}: give this repository another [project] id"
                )
            if row is None:
                row = ProjectRow(project_id=project_id, created_at=utc_now())
                session.add(row)
            if row.repo_path is None:
                row.repo_path, row.registered_at = str(root), utc_now()
            session.flush()
            return _record(row)
    except IntegrityError:
        # Another process registered the id or the path between our read and our write.
        raise ProjectClash(
            f"project {project_id!r} or {root} was registered by another process just now; "
            "see `autopack project list`"
        ) from None


def _exists(path: str) -> bool:
    try:
        return Path(path, ".git").exists()
    except OSError:
        return True  # unreadable is not gone: the registration stays


def list_projects(database: Database) -> list[ProjectRecord]:
    """Every project, registered or not, by id."""
    with database.reading() as session:
        rows = session.scalars(select(ProjectRow).order_by(ProjectRow.project_id))
        return [_record(row) for row in rows]


def get_project(database: Database, project_id: str) -> ProjectRecord:
    with database.reading() as session:
        row = session.get(ProjectRow, project_id)
        if row is None:
            raise NotFound(f"no project {project_id!r} (see `autopack project list`)")
        return _record(row)


def project_of_run(database: Database, run_id: str) -> str:
    with database.reading() as session:
        project_id = session.scalar(select(RunRow.project_id).where(RunRow.run_id == run_id))
    if project_id is None:
        raise NotFound(f"no run {run_id!r}")
    return project_id


def run_ids_of_projects(database: Database, project_ids: Sequence[str]) -> list[str]:
    with database.reading() as session:
        return list(
            session.scalars(select(RunRow.run_id).where(RunRow.project_id.in_(project_ids)))
        )


def project_settings(
    project: ProjectRecord, current: Settings, *, to_resume: bool = False
) -> Settings:
    """The registered project's settings as this process uses them: its repository's
    autopack.toml, with this process's database and clocks (one database serves every project).

    Refused when the project has no path (never registered) or its autopack.toml now names
    another project. With `to_resume` (a worker executing a stored run, which keeps the settings it
    was created with), an autopack.toml that no longer loads is not a refusal.
    """
    if project.repo_path is None:
        raise NotFound(
            f"project {project.project_id!r} has runs but no repository: register it with "
            "`autopack project add PATH`"
        )
    try:
        loaded = load_settings(project.repo_path)
    except ConfigError:
        if not to_resume:
            raise
        loaded = Settings.model_validate(
            {"repo_root": project.repo_path, "project": {"id": project.project_id}}
        )
    if loaded.project.id != project.project_id:
        raise ConfigError(
            f"{project.repo_path / 'autopack.toml'} now names project {loaded.project.id!r}, "
            f"not the registered {project.project_id!r}"
        )
    return loaded.model_copy(
        update={"database_url": current.database_url, "runtime": current.runtime}
    )
