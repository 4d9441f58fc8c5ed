"""Start or resume a run: what `autopack run`, `resume`, `sweep` and `demo` call."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from autopack.config import Settings
from autopack.domain.plan import PlanSpec
from autopack.domain.states import RunState
from autopack.errors import ConfigError, GitError, PlanError, RepoError
from autopack.killpoints import reached
from autopack.llm.recorders import MemoryRecorder
from autopack.plan.split_runs import split_plan
from autopack.processes import executor_id
from autopack.run.baseline import write_baseline
from autopack.run.create import create_run_from_plan, new_run_id, strategy_for
from autopack.run.durable import Listener, durable_executor, sweep
from autopack.run.interrupt import DRIVEN
from autopack.run.lease import RunBusy, holding
from autopack.run.phase0 import plan_for_run, unstored_calls_note
from autopack.run.preflight import check_base as preflight_base
from autopack.run.preflight import check_ci, check_keys, check_replay, routed_aliases
from autopack.run.runs_queue import put_in_line
from autopack.run.services import RunOptions
from autopack.store.chains import ChainLink, create_chain, delete_chain_without_runs
from autopack.store.engine import Database, open_database
from autopack.store.issue_records import load_backlog
from autopack.store.queue import saved_options
from autopack.store.runs import get_run
from autopack.verify.bubblewrap import SandboxUnavailable
from autopack.verify.environment.base import Progress, no_progress
from autopack.workspace.registry import git_for


@dataclass(frozen=True)
class RunEnd:
    run_id: str
    state: RunState
    message: str | None


def _end(settings: Settings, run_id: str) -> RunEnd:
    database = open_database(settings.database_url)
    try:
        run = get_run(database, run_id)
    finally:
        database.close()
    return RunEnd(run_id, run.state, run.failure.message if run.failure else None)


def _check_sandbox(options: RunOptions) -> None:
    if not options.no_sandbox and shutil.which("bwrap") is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, and the Verifier runs checks only in its sandbox: "
            "install it (apt-get install bubblewrap) or pass --no-sandbox to run them unsandboxed"
        )


def _check_llm(settings: Settings, options: RunOptions) -> None:
    """A mistyped alias is refused before anything is created or paid for."""
    llm = options.llm
    if llm is None or llm.startswith("replay:") or llm in settings.aliases:
        return
    raise ConfigError(
        f"--llm {llm!r} is not a model alias (known: {', '.join(sorted(settings.aliases))}) "
        "nor replay:FILE"
    )


@contextmanager
def _planner_calls_noted(
    settings: Settings, run_id: str, planner_calls: MemoryRecorder
) -> Iterator[None]:
    """A plan refused after the planner was paid (e.g. more phases than run.max_phases) says
    where its paid calls were kept, since no run will hold them."""
    try:
        yield
    except PlanError as error:
        note = unstored_calls_note(settings, run_id, planner_calls)
        raise PlanError(f"{error.detail}{note}", path=error.path, line=error.line) from None


def _start_chain(
    database: Database, settings: Settings, first_run_id: str, parts: Sequence[PlanSpec]
) -> ChainLink:
    """Store the chain with every part's plan; the link its first part's run records."""
    chain_id = "chain-" + first_run_id.removeprefix("run-")
    create_chain(database, chain_id, settings.project.id, parts[0].source_path, parts)
    return ChainLink(chain_id=chain_id, part=1)


def create_run(
    settings: Settings,
    plan_file: Path,
    options: RunOptions,
    *,
    queue: bool = False,
    split: bool = False,
    check_base: bool = False,
    on_progress: Progress = no_progress,
) -> str:
    """Phase 0 and RUN_CREATED: parse (or have the planner normalise) the plan, freeze the strategy.

    With `split`, a plan over `run.max_phases` becomes a chain (run/chain.py): every part is checked
    here, the chain is stored, and the first part's run is created; otherwise such a plan is refused.

    With `check_base`, the sandbox, the project's environment and every CI profile are tried on the
    base commit before the run exists (run/preflight.py), and the run keeps that baseline.
    """
    _check_sandbox(options)
    _check_llm(settings, options)
    check_replay(options)
    git = git_for(settings)
    branch = git.current_branch()
    try:
        base_commit = git.head_commit()
    except Exception:
        raise RepoError(f"{settings.repo_root} has no commit yet: commit something first") from None
    run_id = new_run_id()
    plan, planner_calls = plan_for_run(settings, plan_file, options, run_id)
    plan = plan.model_copy(update={"source_path": str(plan_file.resolve())})
    with _planner_calls_noted(settings, run_id, planner_calls):
        parts = split_plan(plan, settings.ruleset.run.max_phases) if split else [plan]
        # Every part is compiled (and its models' keys checked) before the first exists: a later
        # part that cannot run is refused now, not after the earlier ones were paid for.
        compiled = [strategy_for(settings, part, run_id=run_id) for part in parts]
    if options.replay_file is None:
        aliases = {alias for strategy in compiled for alias in routed_aliases(strategy, options)}
        check_keys(settings, aliases, os.environ, "this run" if len(parts) == 1 else "this plan")
    check_ci(settings, compiled)
    if not check_base:
        return _stored(settings, options, parts, run_id, branch, base_commit, planner_calls, queue)
    reports = Path(tempfile.mkdtemp(prefix="autopack-preflight-"))
    try:
        measured = preflight_base(
            settings, options, compiled[:1], base_commit, reports, on_progress
        )
        run_id = _stored(
            settings, options, parts, run_id, branch, base_commit, planner_calls, queue
        )
        # The run's baseline step finds this and measures nothing again.
        run_dir = settings.runs_dir / run_id
        (run_dir / "reports").mkdir(parents=True, exist_ok=True)
        shutil.move(reports, run_dir / "reports" / "baseline")
        write_baseline(run_dir, measured)
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    return run_id


def _stored(
    settings: Settings,
    options: RunOptions,
    parts: list[PlanSpec],
    run_id: str,
    branch: str | None,
    base_commit: str,
    planner_calls: MemoryRecorder,
    queue: bool,
) -> str:
    database = open_database(settings.database_url)
    try:
        chain = _start_chain(database, settings, run_id, parts) if len(parts) > 1 else None
        try:
            with _planner_calls_noted(settings, run_id, planner_calls):
                strategy = create_run_from_plan(
                    settings,
                    database,
                    parts[0],
                    backlog=load_backlog(database, settings.project.id),
                    base_branch=branch,
                    base_commit=base_commit,
                    sandbox="none" if options.no_sandbox else "bubblewrap",
                    run_id=run_id,
                    chain=chain,
                    options_json=options.model_dump_json(),
                    queue=queue,
                )
        except BaseException:
            if chain is not None:
                delete_chain_without_runs(database, chain.chain_id)
            raise
        planner_calls.flush_to(database)
    finally:
        database.close()
    reached("run:stored")  # stored, its workflow not started
    if queue:
        # A kill right here leaves it stored and not enqueued: enqueue_forgotten finds it.
        put_in_line(settings, strategy.run_id, options.model_dump_json())
    return strategy.run_id


def _has_commit(settings: Settings, commit: str) -> bool:
    try:
        git_for(settings).head_commit(commit)
    except GitError:
        return False
    return True


def _check_project(settings: Settings, database: Database, run_id: str) -> None:
    """A run is driven only in its own repository: elsewhere its branch, commits and worktrees
    would be made in a project they do not belong to."""
    run = get_run(database, run_id)
    if run.project_id != settings.project.id:
        raise RepoError(
            f"run {run_id} belongs to project {run.project_id!r}, and {settings.repo_root} is "
            f"project {settings.project.id!r}: resume it with --repo pointing at its own repository"
        )
    if run.base_commit and not _has_commit(settings, run.base_commit):
        raise RepoError(
            f"run {run_id} started from commit {run.base_commit[:12]}, which {settings.repo_root} "
            "does not have: resume it in the repository it was started in"
        )


def execute_run(
    settings: Settings,
    run_id: str,
    options: RunOptions,
    listener: Listener | None = None,
    *,
    resume: bool = False,
) -> RunEnd:
    """Drive the run to its end in this process, holding it exclusively (run/lease.py).

    A resume runs with the options the run was stored with, not the caller's: a run killed before
    its workflow started still answers from its cassette or its chosen model.
    """
    listeners = [] if listener is None else [listener]
    database = open_database(settings.database_url)
    try:
        _check_project(settings, database, run_id)
        saved = saved_options(database, run_id) if resume else None
    finally:
        database.close()
    if saved is not None:
        options = RunOptions.model_validate_json(saved)
    with (
        holding(settings, run_id, executor_id()),
        DRIVEN.driving(settings, run_id),
        durable_executor(settings, listeners) as executor,
    ):
        drive = executor.resume if resume else executor.start
        asyncio.run(drive(run_id, options))
    return _end(settings, run_id)


def sweep_and_resume(
    settings: Settings,
    stale_after: timedelta,
    listener: Listener | None = None,
    *,
    interrupted: bool = False,
) -> list[RunEnd]:
    """Adopt every run of the project nobody drives, and carry each to its end.

    A run whose process was interrupted was stopped on purpose: only a person's `autopack sweep`
    (`interrupted`) takes it on, never a worker on its own. A run another sweeper took first is
    left to it.
    """
    database = open_database(settings.database_url)
    try:
        silent = sweep(database, settings.project.id, stale_after, interrupted=interrupted)
    finally:
        database.close()
    ends = []
    for run_id in silent:
        try:
            ends.append(execute_run(settings, run_id, RunOptions(), listener, resume=True))
        except RunBusy:
            continue
    return ends
