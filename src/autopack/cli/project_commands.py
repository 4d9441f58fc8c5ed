"""`autopack project add | list`: the repositories a server and its workers serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from autopack.cli.context import database_for, settings_for
from autopack.cli.errors import reports_errors

RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="The server's repository, whose database holds the registry (default: the one "
        "around here; AUTOPACK_DATABASE_URL names a shared one).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

project_app = typer.Typer(
    help=(
        "Register the repositories a server serves. `autopack serve` serves its own repository "
        "and every registered one: each with its own autopack.toml settings, runs, share of the "
        "queue and backlog, all in the server's database. Run these where `autopack serve` runs "
        "(the same --repo or AUTOPACK_DATABASE_URL), or use POST /projects."
    ),
    no_args_is_help=True,
)


@project_app.command("add")
@reports_errors
def project_add(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH", help="The top of the repository's git work tree (with autopack.toml)."
        ),
    ],
    repo: RepoOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a repository under the project id of its autopack.toml.

    Refused with nothing written: a path that is not the top of a git work tree (exit 4), an
    invalid autopack.toml or a project id registered already for another path (exit 2).
    Registering the same repository again changes nothing.
    """
    from autopack.store.projects import register_project

    with database_for(settings_for(repo)) as database:
        record = register_project(database, path)
    if as_json:
        print(record.model_dump_json())
        return
    print(f"project {record.project_id}: {record.repo_path}")


@project_app.command("list")
@reports_errors
def project_list(repo: RepoOption = None, as_json: JsonOption = False) -> None:
    """List the projects: id, repository and when it was registered.

    A project with runs but no repository was made by runs before it was registered; `autopack
    project add` its repository to serve it.
    """
    from autopack.store.projects import list_projects

    with database_for(settings_for(repo)) as database:
        projects = list_projects(database)
    if as_json:
        print(json.dumps([p.model_dump(mode="json") for p in projects], indent=2))
        return
    for p in projects:
        where = str(p.repo_path) if p.repo_path else "(not registered)"
        when = f"registered {p.registered_at:%Y-%m-%d %H:%M}" if p.registered_at else ""
        print(f"{p.project_id}\t{where}\t{when}".rstrip())


def register(app: typer.Typer) -> None:
    app.add_typer(project_app, name="project")
