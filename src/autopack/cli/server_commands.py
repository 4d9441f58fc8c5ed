"""`autopack serve | worker | token`: the API service, its workers, and the tokens that open it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated

import typer

from autopack.cli.context import database_for, settings_for
from autopack.cli.errors import reports_errors
from autopack.domain.vocabulary import TokenScope

RepoOption = Annotated[
    Path | None,
    typer.Option("--repo", help="The project's git repository (default: the one around here)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

token_app = typer.Typer(help="Create, list and revoke API tokens (stored only as hashes).")


@token_app.command("create")
@reports_errors
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the token.")],
    scope: Annotated[
        TokenScope,
        typer.Option("--scope", help="read: look only; write: also start, cancel, promote."),
    ] = TokenScope.READ,
    project: Annotated[
        list[str] | None,
        typer.Option(
            "--project",
            help="Limit the token to this project's runs, events and reports (repeatable; "
            "default: every project).",
        ),
    ] = None,
    repo: RepoOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it once; only its hash is kept.

    With --project, the token sees and acts on those projects only (`autopack project list`):
    other projects' runs are absent to it, and it cannot register projects.
    """
    from autopack.store.projects import register_project
    from autopack.store.tokens import create_token

    settings = settings_for(repo)
    with database_for(settings) as database:
        if project:
            # The repository here is a project the token may name before any server started.
            register_project(database, settings.repo_root)
        token, info = create_token(database, name, scope, project or ())
    if as_json:
        print(
            json.dumps(
                {
                    "token": token,
                    "name": info.name,
                    "scope": info.scope.value,
                    "projects": list(info.projects) if info.projects else None,
                }
            )
        )
        return
    print(token)
    limited = f", projects {', '.join(info.projects)}" if info.projects else ""
    typer.echo(
        f"token {info.name!r} ({info.scope.value}{limited}) created; it is shown only now",
        err=True,
    )


@token_app.command("list")
@reports_errors
def token_list(repo: RepoOption = None, as_json: JsonOption = False) -> None:
    """List tokens by name, scope and last use (never the tokens themselves)."""
    from autopack.store.tokens import list_tokens

    with database_for(settings_for(repo)) as database:
        tokens = list_tokens(database)
    if as_json:
        print(json.dumps([t.model_dump(mode="json") for t in tokens], indent=2))
        return
    for t in tokens:
        state = "revoked" if t.revoked_at else f"last used {t.last_used_at or 'never'}"
        reach = ",".join(t.projects) if t.projects else "all projects"
        print(f"{t.name}\t{t.scope.value}\t{reach}\t{state}")


@token_app.command("revoke")
@reports_errors
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    repo: RepoOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: requests carrying it are refused from now on."""
    from autopack.store.tokens import revoke_token

    with database_for(settings_for(repo)) as database:
        revoke_token(database, name)
    if as_json:
        print(json.dumps({"name": name, "revoked": True}))
        return
    print(f"token {name!r} revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")

    @app.command()
    @reports_errors
    def serve(
        repo: RepoOption = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
        no_worker: Annotated[
            bool,
            typer.Option(
                "--no-worker", help="Run no worker here; `autopack worker` processes execute runs."
            ),
        ] = False,
        cors_origin: Annotated[
            list[str] | None,
            typer.Option(
                "--cors-origin", help="Allow browser calls from this origin (repeatable)."
            ),
        ] = None,
    ) -> None:
        """Serve the REST API, live events, dashboard and /metrics for this project and every
        registered one (`autopack project add`).

        Runs started over the API execute on a worker in this process unless --no-worker.
        Open http://HOST:PORT/ui/ and sign in with a token; API docs at /docs.
        """
        import uvicorn

        from autopack.server.app import create_app, server_options
        from autopack.server.context import ServerContext
        from autopack.store.engine import open_database
        from autopack.store.tokens import list_tokens

        settings = settings_for(repo)
        database = open_database(settings.database_url)
        context = ServerContext(
            settings=settings, database=database, cors_origins=tuple(cors_origin or ())
        )
        app_ = create_app(context, run_worker=not no_worker)
        typer.echo(f"autopack serving {settings.project.id} on http://{host}:{port}/", err=True)
        if not any(t.revoked_at is None for t in list_tokens(database)):
            typer.echo(
                "no API token exists yet: create one with "
                "`autopack token create --name you --scope write`",
                err=True,
            )
        try:
            uvicorn.run(app_, host=host, port=port, log_level="warning", **server_options(settings))
        finally:
            database.close()

    @app.command()
    @reports_errors
    def worker(
        repo: RepoOption = None,
        once: Annotated[
            bool, typer.Option("--once", help="Exit when no queued run is left.")
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Execute queued runs, runtime.worker_concurrency at a time (1 by default); put the
        runs of dead workers back on the queue.

        Runs of every registered project (`autopack project list`) execute in their own
        repository, taken fairly across projects from DBOS's runs queue. Start as many as you
        like against one database (AUTOPACK_DATABASE_URL); each run is taken by exactly one
        worker, at most runtime.global_concurrency at once across all of them.
        """
        from autopack.run.worker import work

        settings = settings_for(repo)
        stop = threading.Event()
        try:
            ended = work(settings, stop, once=once)
        except KeyboardInterrupt:
            stop.set()
            return
        if as_json:
            print(json.dumps([{"run_id": e.run_id, "state": e.state.value} for e in ended]))
            return
        for end in ended:
            print(f"{end.run_id}\t{end.state.value}")
