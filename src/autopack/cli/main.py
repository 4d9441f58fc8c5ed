"""`autopack`: init, plan, backlog, models, verify, promote; each command parses, calls one core function, renders."""

from __future__ import annotations

import getpass
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from autopack import __version__
from autopack.cli import exit_codes
from autopack.cli.context import database_for, project_backlog, settings_for
from autopack.cli.errors import reports_errors
from autopack.cli.mcp_commands import register as register_mcp_commands
from autopack.cli.project_commands import register as register_project_commands
from autopack.cli.reference import register as register_reference
from autopack.cli.render import backlog_table, models_table, print_strategies, print_verify_result
from autopack.cli.report_commands import register as register_report_commands
from autopack.cli.run_commands import register as register_run_commands
from autopack.cli.server_commands import register as register_server_commands
from autopack.domain.vocabulary import CIProfile, SafetyProfile
from autopack.errors import AutopackError
from autopack.llm.keys import redactor_for
from autopack.llm.redact import DeferredRedactor, Redactor, install_log_redaction

# The core (plans, strategies, git, the sandbox, the store) is imported inside the commands that
# use it: `autopack --help` and `autopack CMD --help` must start without SQLAlchemy or any
# provider SDK.

app = typer.Typer(
    name="autopack",
    help=(
        "Autopack turns a written plan into tested, reviewed commits on an integration branch, "
        "run by AI coding agents under hard budgets, safety rules and an audit trail."
    ),
    epilog=exit_codes.epilog(),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="The git repository to work on (default: the one around the current directory).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")
]


def _version(value: bool) -> None:
    if value:
        print(f"autopack {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Autopack: governed multi-phase builds by AI coding agents."""


@app.command()
@reports_errors
def init(
    repo: RepoOption = None,
    project_id: Annotated[
        str | None,
        typer.Option("--project-id", help="Project id (default: the repo's directory name)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing autopack.toml.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write a commented autopack.toml with the test commands detected in the repository.

    Every default is written, commented out; `autopack help config` explains each key. Autopack's
    own folders are added to the repository's .gitignore.
    """
    from autopack.project_init import ignore_autopack_folders, write_config

    settings = settings_for(repo)
    path = write_config(settings.repo_root, project_id or settings.project.id, force=force)
    ignored = ignore_autopack_folders(settings.repo_root)
    if as_json:
        print(json.dumps({"config": str(path), "gitignore_added": ignored}))
        return
    print(f"wrote {path}")
    if ignored:
        print(f"added to {settings.repo_root / '.gitignore'}: {' '.join(ignored)}")
    print("every key and its default: autopack help config")


@app.command()
@reports_errors
def plan(
    plan_file: Annotated[
        Path,
        typer.Argument(
            metavar="PLAN", help="comprehensive_plan.md, or the same plan as .yaml/.json."
        ),
    ],
    repo: RepoOption = None,
    safety_profile: Annotated[
        SafetyProfile | None,
        typer.Option("--safety-profile", help="Override the ruleset's safety profile."),
    ] = None,
    tier: Annotated[
        str | None, typer.Option("--tier", help="Plan a single tier (run scope single_tier).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the tiers and phases of a plan with the strategy each would run under.

    Nothing is executed and no model is called. A plan with more phases than
    run.max_phases is split by tier into several runs, each shown.
    """
    from autopack.plan.load import load_plan
    from autopack.plan.mask import plan_redactor
    from autopack.plan.split_runs import split_plan
    from autopack.run.artefacts import policy_lines
    from autopack.run.create import strategy_for

    settings = settings_for(repo)
    parsed = load_plan(plan_file, redactor=plan_redactor(settings.aliases))
    backlog = project_backlog(settings)
    parts = split_plan(parsed, settings.ruleset.run.max_phases) if tier is None else [parsed]
    strategies = [
        strategy_for(
            settings,
            part,
            run_id=f"preview-{index}",
            backlog=backlog,
            safety_profile=safety_profile,
            tier_id=tier,
        )
        for index, part in enumerate(parts, start=1)
    ]
    policy = settings.policy
    if as_json:
        runs = [s.model_dump(mode="json") for s in strategies]
        written = {
            "protected": list(policy.protected),
            "unprotect": list(policy.unprotect),
            "symlinks": list(policy.symlinks),
        }
        print(json.dumps({"runs": runs, "policy": written}, indent=2))
        return
    console = wide_console()
    print_strategies(console, strategies)
    for line in policy_lines(policy):
        console.print(line.removeprefix("- ").replace("`", ""), markup=False, highlight=False)


@app.command()
@reports_errors
def backlog(repo: RepoOption = None, as_json: JsonOption = False) -> None:
    """Show the project's issue backlog: every issue key with its age and effective severity."""
    settings = settings_for(repo)
    entries = project_backlog(settings)
    if as_json:
        print(
            json.dumps(
                {
                    "project_id": settings.project.id,
                    "issues": [e.model_dump(mode="json") for e in entries],
                },
                indent=2,
            )
        )
        return
    if not entries:
        print(f"The backlog of {settings.project.id} is empty.")
        return
    wide_console().print(backlog_table(entries, settings.project.id))


@app.command()
@reports_errors
def models(
    repo: RepoOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Make one tiny real call per alias (costs a few tokens each)."
        ),
    ] = False,
    alias: Annotated[
        list[str] | None,
        typer.Option("--alias", help="With --check: only these aliases (repeatable)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the model aliases: what each resolves to, its prices, and whether its API key is set.

    Keys are never shown, only whether the environment variable that should hold one is set.
    With --check, exit code 8 when any checked alias failed.
    """
    from autopack.llm.catalog import check_aliases, describe_aliases

    settings = settings_for(repo)
    if check:
        results = check_aliases(settings, os.environ, alias or ())
        if as_json:
            print(json.dumps({"checks": [r.model_dump(mode="json") for r in results]}, indent=2))
        else:
            for result in results:
                mark = "ok  " if result.ok else "FAIL"
                print(
                    f"{mark} {result.alias}: {result.detail} ({result.seconds:.2f} s, ${result.usd})"
                )
        if not all(result.ok for result in results):
            raise typer.Exit(exit_codes.CHECK_FAILED)
        return
    views = describe_aliases(settings, os.environ)
    if as_json:
        print(json.dumps({"aliases": [view.model_dump(mode="json") for view in views]}, indent=2))
        return
    wide_console().print(models_table(views))


@app.command()
@reports_errors
def promote(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="The run whose integration branch to merge.")
    ],
    into: Annotated[
        str | None,
        typer.Option("--into", help="Target branch (default: the branch the run started from)."),
    ] = None,
    repo: RepoOption = None,
    as_json: JsonOption = False,
) -> None:
    """Merge a finished run's integration branch into a branch, if the run is eligible.

    Eligible means DONE_SUCCESS, no tier not_clean, and no budget cap hit; otherwise every
    reason is listed and nothing is merged (exit code 7).
    """
    from autopack.run.promote import promote_run
    from autopack.workspace.registry import git_for

    settings = settings_for(repo)
    git = git_for(settings)
    with database_for(settings) as database:
        target, head = promote_run(database, git, run_id, into)
    if as_json:
        print(json.dumps({"run_id": run_id, "into": target, "head": head}))
        return
    print(f"promoted {git.integration_branch(run_id)} into {target} at {head[:12]}")


@app.command()
@reports_errors
def approve(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run.")],
    phase_id: Annotated[str, typer.Argument(metavar="PHASE_ID", help="The phase to approve.")],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who approves (default: your user name)."),
    ] = None,
    repo: RepoOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a committed high-risk phase (auto_apply = false) for promotion.

    A run never waits for this: the phase committed and the run ended; until every such phase is
    approved — by the Auditor with no major finding, or by a person here — `autopack promote`
    refuses the run. Recorded with who and when, in the database and RUN_SUMMARY.md.
    """
    from autopack.run.promote import approve_phase

    settings = settings_for(repo)
    with database_for(settings) as database:
        phase = approve_phase(
            database, settings.runs_dir, run_id, phase_id, by or getpass.getuser()
        )
    if as_json:
        print(phase.model_dump_json())
        return
    print(f"phase {phase_id} of {run_id}: approved by {phase.approved_by}")


@app.command()
@reports_errors
def verify(
    repo: RepoOption = None,
    profile: Annotated[
        CIProfile, typer.Option("--profile", help="CI profile from autopack.toml.")
    ] = CIProfile.NORMAL,
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox", help="Run the commands without bubblewrap isolation (explicit opt-out)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a CI profile on HEAD, in a throwaway worktree and the sandbox, as the Verifier would.

    Failing tests are rerun up to twice; a test that then passes is reported as flaky.
    Commands run in the project's environment ([environment] in autopack.toml); HEAD is refused
    (exit code 6) when its package would be imported from outside the worktree.
    Exit code 0 only when the gate passes, 8 when it fails.
    """
    from autopack.verify.local import verify_head
    from autopack.verify.registry import sandbox_for
    from autopack.workspace.registry import git_for

    settings = settings_for(repo)
    git = git_for(settings)
    with tempfile.TemporaryDirectory(prefix="autopack-reports-") as reports:
        result = verify_head(
            settings,
            git,
            sandbox_for(no_sandbox, settings),
            profile,
            Path(reports),
            # On stderr, so --json's stdout stays one document.
            on_progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    if as_json:
        print(json.dumps({"passed": result.passed, **result.model_dump(mode="json")}, indent=2))
    else:
        print_verify_result(wide_console(), result)
    if not result.passed:
        raise typer.Exit(exit_codes.CHECK_FAILED)


register_run_commands(app)
register_server_commands(app)
register_mcp_commands(app)
register_project_commands(app)
register_report_commands(app)
register_reference(app)


def wide_console() -> Console:
    """A terminal's own width; 140 columns when piped, so tables stay readable in files and CI logs."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def _shipped_keys_redactor() -> Redactor:
    from autopack.llm.aliases import default_aliases

    try:
        return redactor_for(default_aliases(), os.environ)
    except AutopackError:  # an unreadable key file is reported by the command that needs it
        return Redactor()


def main() -> None:
    # Known keys of the shipped aliases, and anything key-shaped, never reach a log line.
    install_log_redaction(DeferredRedactor(_shipped_keys_redactor))
    exit_codes.run_cli(app)
