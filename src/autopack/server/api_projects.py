"""/projects: the repositories this server serves. Each has its own settings (its autopack.toml),
its runs, its share of the queue and its backlog; all share the server's database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from autopack.config import PROJECT_ID_PATTERN
from autopack.errors import ConfigError, NotFound, RepoError
from autopack.server.auth import Reader, Registrar
from autopack.server.context import context_of
from autopack.server.problems import Problem
from autopack.store.projects import (
    ProjectClash,
    ProjectRecord,
    get_project,
    list_projects,
    register_project,
)

router = APIRouter(prefix="/projects", tags=["projects"])

ProjectId = Annotated[str, PathParam(pattern=PROJECT_ID_PATTERN, description="A project's id.")]


class NewProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1,
        max_length=4096,
        pattern=r"^/[^\x00-\x1f]*$",
        description="Absolute path, on the server, of the top of the repository's git work tree",
    )


class ProjectView(BaseModel):
    project_id: str
    # None: the project has runs (made before registries existed) but no registered repository.
    repo_path: str | None
    registered_at: datetime | None
    created_at: datetime
    # Whether this is the repository the server was started with (the default for POST /runs).
    default: bool
    links: dict[str, str]


def _view(record: ProjectRecord, default_id: str) -> ProjectView:
    return ProjectView(
        project_id=record.project_id,
        repo_path=str(record.repo_path) if record.repo_path is not None else None,
        registered_at=record.registered_at,
        created_at=record.created_at,
        default=record.project_id == default_id,
        links={
            "self": f"/projects/{record.project_id}",
            "runs": f"/runs?project={record.project_id}",
            "backlog": f"/projects/{record.project_id}/backlog",
        },
    )


@router.get("", response_model=list[ProjectView])
def projects(request: Request, caller: Reader) -> list[ProjectView]:
    """Every project the token may see, by id."""
    context = context_of(request)
    return [
        _view(record, context.project_id)
        for record in list_projects(context.database)
        if caller.sees(record.project_id)
    ]


@router.get("/{project_id}", response_model=ProjectView)
def project(project_id: ProjectId, request: Request, caller: Reader) -> ProjectView:
    context = context_of(request)
    if not caller.sees(project_id):
        raise NotFound(f"no project {project_id!r}")
    return _view(get_project(context.database, project_id), context.project_id)


@router.post("", status_code=201, response_model=ProjectView)
async def add_project(
    body: NewProject, request: Request, response: Response, _: Registrar
) -> ProjectView:
    """Register a repository under its autopack.toml's project id (201; 200 if it already was).

    Refused with nothing written: a path that is not the top of a git work tree or that this
    server cannot read, an invalid autopack.toml (422); a project id registered to another path
    (409).
    """
    context = context_of(request)
    known = {p.project_id: p for p in await run_in_threadpool(list_projects, context.database)}
    try:
        record = await run_in_threadpool(register_project, context.database, Path(body.path))
    except ProjectClash as clash:
        raise Problem(409, "Conflict", str(clash)) from None
    except (RepoError, ConfigError) as refused:
        raise Problem(422, "Invalid input", f"path: {refused}") from None
    if known.get(record.project_id) == record:
        response.status_code = 200
    response.headers["Location"] = f"/projects/{record.project_id}"
    return _view(record, context.project_id)
