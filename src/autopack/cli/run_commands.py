"""`autopack run | resume | sweep | watch | status | runs | issues | logs | demo`: runs, from start to account."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from autopack.cli.chain_view import chain_lines, through_chain
from autopack.cli.context import database_for, settings_for
from autopack.cli.errors import reports_errors
from autopack.cli.interrupts import interruptible, resume_command
from autopack.domain.vocabulary import Approval
from autopack.errors import GitError, NotFound

# Running a plan imports the providers' SDKs, DBOS and the database layer: each command imports
# what it needs when it runs, so `autopack --help` and the quick commands start at once.
if TYPE_CHECKING:
    from autopack.config import Settings
    from autopack.domain.states import RunState
    from autopack.run.execute import RunEnd
    from autopack.store.runs import PhaseRecord, RunRecord
    from autopack.workspace.base import CommitInfo

# A run that ends in any DONE_FAILED_* state exits with this code; 0 only on DONE_SUCCESS.
RUN_FAILED_EXIT = 10
WATCH_POLL_SECONDS = 0.3
WATCH_END_GRACE_SECONDS = 15

RepoOption = Annotated[
    Path | None,
    typer.Option("--repo", help="The git repository to work on (default: the one around here)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RunIdArgument = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="A run id (see `autopack runs`).")
]


class LiveView:
    """One line per step: tier, phase, attempt and step, with spend against the run's budget."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.console = Console(stderr=False, highlight=False)

    def __call__(self, event: dict[str, Any]) -> None:
        from autopack.run.events import describe

        if self.as_json:
            print(json.dumps(event, default=str), flush=True)
            return
        line = describe(event)
        if line is not None:
            self.console.print(line, markup=False, soft_wrap=True)


def preflight_progress(as_json: bool) -> Callable[[str], None]:
    """Lines while the base commit is checked, before the run exists (it may take minutes)."""

    def show(line: str) -> None:
        if as_json:
            print(json.dumps({"kind": "preflight", "message": line}), flush=True)
        else:
            print(f"preflight: {line}", flush=True)

    return show


def _finish(end: RunEnd, settings_runs_dir: Path, as_json: bool) -> None:
    from autopack.domain.states import RunState
    from autopack.run.artefacts import SUMMARY_FILE

    summary = settings_runs_dir / end.run_id / SUMMARY_FILE
    if as_json:
        print(
            json.dumps(
                {
                    "kind": "end",
                    "run_id": end.run_id,
                    "state": end.state.value,
                    "reason": end.message,
                    "summary": str(summary),
                }
            )
        )
    else:
        print(f"summary: {summary}")
    if end.state is not RunState.DONE_SUCCESS:
        raise typer.Exit(RUN_FAILED_EXIT)


def _state_text(state: RunState, interrupted_at: datetime | None) -> str:
    """A run whose process was interrupted is not executing, whatever state it stopped in."""
    return state.value if interrupted_at is None else f"interrupted ({state.value})"


def _resume_hint(run_id: str, interrupted_at: datetime | None, repo_root: Path) -> str:
    if interrupted_at is None:
        return ""
    return (
        f"  at {interrupted_at:%Y-%m-%d %H:%M}: resume with `{resume_command(run_id, repo_root)}`"
    )


def _approval_note(phase: PhaseRecord) -> str:
    if phase.approval is Approval.PENDING:
        return ", awaits approval (autopack approve)"
    if phase.approval is Approval.APPROVED:
        return f", approved by {phase.approved_by}"
    return ""


def register(app: typer.Typer) -> None:
    @app.command()
    @reports_errors
    @interruptible
    def run(
        plan_file: Annotated[
            Path, typer.Argument(metavar="PLAN", help="comprehensive_plan.md (or .yaml/.json).")
        ],
        repo: RepoOption = None,
        llm: Annotated[
            str | None,
            typer.Option(
                "--llm",
                help="ALIAS: one model alias for every role; replay:FILE: answer from a cassette, offline.",
            ),
        ] = None,
        no_sandbox: Annotated[
            bool,
            typer.Option(
                "--no-sandbox",
                help="Run checks without bubblewrap (explicit opt-out, recorded in the run).",
            ),
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Run a plan to a terminal state with no human in the loop.

        Commits land only on autopack/<run_id>; the branch you are on is never written. Exit
        code 0 only on DONE_SUCCESS, 10 on any DONE_FAILED_* state. Kill it at any point and
        `autopack resume RUN_ID` carries on without paying again for finished model calls.
        A plan over run.max_phases runs as a chain of runs, one per part `autopack plan` shows,
        each started only after the previous ended DONE_SUCCESS. Before the run exists, the
        keys, CI commands, sandbox and project environment are checked and every CI profile runs
        on the base commit: what cannot work is refused (exit 2 or 6) with nothing left behind.
        """
        from autopack.run.execute import create_run, execute_run
        from autopack.run.services import RunOptions

        settings = settings_for(repo)
        options = RunOptions(llm=llm, no_sandbox=no_sandbox)
        run_id = create_run(
            settings,
            plan_file,
            options,
            split=True,
            check_base=True,
            on_progress=preflight_progress(as_json),
        )
        end = execute_run(settings, run_id, options, LiveView(as_json))
        end = through_chain(settings, end, as_json, LiveView(as_json))
        _finish(end, settings.runs_dir, as_json)

    @app.command()
    @reports_errors
    @interruptible
    def resume(run_id: RunIdArgument, repo: RepoOption = None, as_json: JsonOption = False) -> None:
        """Carry an interrupted run on from its last checkpoint, with the options it started with.

        A part of a chain then carries the chain on: the later parts run here, as `autopack run`
        would have run them.
        """
        # Said before anything slow (the run's code, the store, DBOS): the run is on its way.
        if as_json:
            print(json.dumps({"kind": "resuming", "run_id": run_id}), flush=True)
        else:
            print(f"resuming {run_id} from its last checkpoint", flush=True)
        from autopack.run.execute import execute_run
        from autopack.run.services import RunOptions

        settings = settings_for(repo)
        end = execute_run(settings, run_id, RunOptions(), LiveView(as_json), resume=True)
        end = through_chain(settings, end, as_json, LiveView(as_json))
        _finish(end, settings.runs_dir, as_json)

    @app.command()
    @reports_errors
    @interruptible
    def sweep(
        repo: RepoOption = None,
        stale_seconds: Annotated[
            int,
            typer.Option(
                "--stale-seconds", help="Adopt runs whose executor has been silent this long."
            ),
        ] = 60,
        as_json: JsonOption = False,
    ) -> None:
        """Resume, in this process, every unfinished run whose executor stopped sending heartbeats.

        Interrupted runs too: workers leave those alone, since they were stopped on purpose.
        Runs stored for a worker but never put on its queue (their process was killed in between)
        are enqueued with their saved options, for a worker to execute.
        """
        from autopack.run.execute import sweep_and_resume
        from autopack.run.runs_queue import enqueue_forgotten
        from autopack.store.engine import open_database

        settings = settings_for(repo)
        stale_after = timedelta(seconds=stale_seconds)
        database = open_database(settings.database_url)
        try:
            enqueued = enqueue_forgotten(settings, database, stale_after)
        finally:
            database.close()
        ends = sweep_and_resume(settings, stale_after, LiveView(as_json), interrupted=True)
        if as_json:
            print(json.dumps([{"run_id": e.run_id, "state": e.state.value} for e in ends]))
            return
        for run_id in enqueued:
            print(f"{run_id}\tenqueued for a worker")
        if not ends and not enqueued:
            print("no silent runs")

    @app.command()
    @reports_errors
    def watch(
        run_id: RunIdArgument,
        repo: RepoOption = None,
        after: Annotated[
            int, typer.Option("--after", help="Start after this event id (default: the start).")
        ] = 0,
        as_json: JsonOption = False,
    ) -> None:
        """Follow a run's progress live, wherever it executes (a worker, the API, another shell).

        Prints what `autopack run` prints and exits when the run ends: 0 on DONE_SUCCESS, 10
        otherwise.
        """
        from autopack.domain.states import RunState
        from autopack.store.progress import progress_after
        from autopack.store.runs import get_run

        view = LiveView(as_json)
        with database_for(settings_for(repo)) as database:
            state = get_run(database, run_id).state
            last = after
            finished = False
            ended_at: float | None = None
            while True:
                events = progress_after(database, last, run_id=run_id)
                for event in events:
                    message = event.as_message()
                    view(message)
                    finished = finished or message.get("kind") == "run_finished"
                    last = event.id
                state = get_run(database, run_id).state
                if state.is_terminal and not events:
                    # The state turns terminal before the summary is written and the last event
                    # sent; a run that never sent one (an older version's) is given a grace period.
                    ended_at = ended_at if ended_at is not None else time.monotonic()
                    if finished or time.monotonic() - ended_at > WATCH_END_GRACE_SECONDS:
                        break
                time.sleep(WATCH_POLL_SECONDS)
        if state is not RunState.DONE_SUCCESS:
            raise typer.Exit(RUN_FAILED_EXIT)

    @app.command()
    @reports_errors
    def status(
        run_id: Annotated[
            str | None, typer.Argument(metavar="[RUN_ID]", help="Default: the newest run.")
        ] = None,
        repo: RepoOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """A run's state, tiers, phases, attempts and spend."""
        from autopack.store.chains import chain_of
        from autopack.store.ledger import ledger_totals
        from autopack.store.runs import get_run, list_runs

        settings = settings_for(repo)
        with database_for(settings) as database:
            if run_id is None:
                runs = list_runs(database, project_id=settings.project.id)
                if not runs:
                    print("null" if as_json else "no runs yet")
                    return
                run_id = runs[0][0]
            record = get_run(database, run_id)
            totals = ledger_totals(database, run_id)
            chain = chain_of(database, run_id)
        commits = _phase_commits(settings, record)
        if as_json:
            print(
                json.dumps(
                    {
                        **record.model_dump(mode="json", exclude={"strategy_json"}),
                        "spent": totals.model_dump(mode="json"),
                        "chain": chain.model_dump(mode="json") if chain else None,
                        "commits": {
                            phase: commit.model_dump(mode="json")
                            for phase, commit in commits.items()
                        },
                    },
                    indent=2,
                )
            )
            return
        print(
            f"{record.run_id}  {_state_text(record.state, record.interrupted_at)}"
            + (f"  {record.failure.message}" if record.failure else "")
            + _resume_hint(record.run_id, record.interrupted_at, settings.repo_root)
        )
        print(f"  spent {totals.tokens:,} tokens, ${totals.usd:.4f} in {totals.calls} calls")
        for line in chain_lines(chain) if chain else ():
            print(line)
        for tier in record.tiers:
            print(
                f"  tier {tier.tier_id} {tier.name}: {tier.state.value}"
                + (f", {tier.cleanliness.value}" if tier.cleanliness else "")
            )
            for phase in tier.phases:
                print(
                    f"    {phase.phase_id} {phase.title}: {phase.state.value} ({phase.attempts_used} attempt(s))"
                    + _approval_note(phase)
                )
                landed = commits.get(phase.phase_id)
                if landed is not None:
                    trailers = landed.trailers
                    print(
                        f"      commit {landed.sha[:12]} by {trailers.get('Autopack-Model', '?')}, "
                        f"${trailers.get('Autopack-Cost-USD', '?')}, "
                        f"auditor: {trailers.get('Autopack-Auditor', '?')}"
                    )

    @app.command()
    @reports_errors
    def runs(repo: RepoOption = None, as_json: JsonOption = False) -> None:
        """The project's runs, newest first."""
        from autopack.store.runs import list_runs

        settings = settings_for(repo)
        with database_for(settings) as database:
            found = list_runs(database, project_id=settings.project.id)
        if as_json:
            print(
                json.dumps(
                    [
                        {
                            "run_id": line.run_id,
                            "state": line.state.value,
                            "created_at": line.created_at.isoformat(),
                            "interrupted_at": (
                                line.interrupted_at.isoformat() if line.interrupted_at else None
                            ),
                        }
                        for line in found
                    ]
                )
            )
            return
        for line in found:
            print(
                f"{line.run_id}  {_state_text(line.state, line.interrupted_at):36}  "
                f"{line.created_at:%Y-%m-%d %H:%M}{_resume_hint(line.run_id, line.interrupted_at, settings.repo_root)}"
            )
        if not found:
            print("no runs yet")

    @app.command()
    @reports_errors
    def issues(run_id: RunIdArgument, repo: RepoOption = None, as_json: JsonOption = False) -> None:
        """The run's de-duplicated issues (run_issue_index.json), by key."""
        from autopack.issues.run_issue_index import read_run_index

        settings = settings_for(repo)
        path = settings.runs_dir / run_id / "run_issue_index.json"
        if not path.exists():
            raise NotFound(f"run {run_id} has no issue index yet (it is written when the run ends)")
        index = read_run_index(path)
        if as_json:
            print(index.model_dump_json(indent=2))
            return
        for entry in index.entries:
            print(f"{entry.issue_key}  {entry.effective_severity.value}  {entry.summary[:100]}")
        if not index.entries:
            print("no issues")

    @app.command()
    @reports_errors
    def logs(run_id: RunIdArgument, repo: RepoOption = None, as_json: JsonOption = False) -> None:
        """Every state change of the run, in order, with its cause."""
        from autopack.store.runs import list_events

        settings = settings_for(repo)
        with database_for(settings) as database:
            events = list_events(database, run_id)
        if as_json:
            print(json.dumps([e.model_dump(mode="json") for e in events]))
            return
        for event in events:
            print(
                f"{event.at:%H:%M:%S} {event.entity} {event.entity_id}: {event.from_state or '-'} -> {event.to_state} ({event.event}) {event.cause}"
            )

    @app.command()
    @reports_errors
    @interruptible
    def demo(
        directory: Annotated[
            Path | None,
            typer.Option(
                "--dir", help="Where to create the sample project (default: a temporary folder)."
            ),
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Run a two-tier sample plan offline through the real pipeline, from a shipped cassette.

        Real worktrees, governed apply, sandboxed tests, Auditor and ledger; no network, no key.
        """
        from autopack.demo.run_demo import demo_folder, run_demo, sandbox_missing

        root = demo_folder(directory)
        # First, so that an interrupted demo can be found (and resumed) where it is.
        if as_json:
            print(json.dumps({"kind": "project", "path": str(root)}), flush=True)
        else:
            print(f"sample project: {root}", flush=True)
        if sandbox_missing():
            print(
                "bubblewrap is not installed: the demo runs its own bundled tests unsandboxed (recorded in the run)",
                file=sys.stderr,
            )
        root, end = run_demo(root, LiveView(as_json))
        if not as_json:
            print(
                f"integration branch: autopack/{end.run_id} (main is untouched); try: git -C {root} log --oneline autopack/{end.run_id}"
            )
        _finish(end, root / ".autonomous_runs", as_json)


def _phase_commits(settings: Settings, record: RunRecord) -> dict[str, CommitInfo]:
    """Each committed phase's commit, read back from the branch (trailers carry its provenance)."""
    from autopack.workspace.registry import git_for

    if record.base_commit is None:
        return {}
    try:
        status = git_for(settings).integration_status(record.run_id, record.base_commit)
    except GitError:  # the branch may be gone (promoted and deleted): the run is still shown
        return {}
    return {
        commit.trailers["Autopack-Phase"]: commit
        for commit in status.commits
        if "Autopack-Phase" in commit.trailers
    }
