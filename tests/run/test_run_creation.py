"""A run is created from a plan: strategy frozen, stored, written; aged backlog issues add a debt phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autopack.config import load_settings
from autopack.domain.issues import PhaseIssue
from autopack.domain.states import PhaseState, RunState
from autopack.domain.strategy import Strategy
from autopack.domain.vocabulary import IssueSource, Severity, TaskCategory
from autopack.errors import ConfigError, PlanError
from autopack.issues.backlog_aging import AgingThresholds
from autopack.issues.phase_issue_file import PhaseIssueFile, add_issue, write_phase_issue_file
from autopack.issues.settle import settle_run_issues
from autopack.plan.load import load_plan
from autopack.run.create import create_run_from_plan, strategy_path
from autopack.run.execute import create_run
from autopack.run.services import RunOptions
from autopack.store.engine import Database
from autopack.store.issue_records import load_backlog
from autopack.store.runs import get_run, list_events

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "comprehensive_plan.md"


def test_created_run_is_stored_frozen_and_written(git_repo: Path, database: Database) -> None:
    settings = load_settings(git_repo)
    strategy = create_run_from_plan(settings, database, load_plan(EXAMPLE))
    run = get_run(database, strategy.run_id)
    assert run.state is RunState.RUN_CREATED
    assert [p.phase_id for t in run.tiers for p in t.phases] == [
        p.phase_id for p in strategy.phases
    ]
    assert {p.state for t in run.tiers for p in t.phases} == {PhaseState.QUEUED}
    written = strategy_path(settings.runs_dir, strategy.run_id)
    assert Strategy.model_validate(json.loads(written.read_text())) == strategy
    assert Strategy.model_validate_json(run.strategy_json) == strategy
    assert [e.event for e in list_events(database, strategy.run_id)] == [
        "CREATED",
        "STRATEGY_FROZEN",
    ]


def test_bad_plan_for_the_ruleset_creates_nothing(git_repo: Path, database: Database) -> None:
    (git_repo / "autopack.toml").write_text("[ruleset.run]\nmax_phases = 2\n")
    settings = load_settings(git_repo)
    with pytest.raises(PlanError):
        create_run_from_plan(settings, database, load_plan(EXAMPLE), run_id="run-x")
    assert not (settings.runs_dir / "run-x").exists()


def _raise_lint_issue(settings_runs: Path, run_id: str) -> None:
    file = PhaseIssueFile(run_id=run_id, tier_id="1", phase_id="1.1", position=1)
    file = add_issue(
        file,
        PhaseIssue(
            issue_key="lint:unused-import",
            severity=Severity.MINOR,
            effective_severity=Severity.MINOR,
            source=IssueSource.STATIC_CHECK,
            category="lint",
            first_seen_run=run_id,
            last_seen_run=run_id,
            paths=("src/todo/repository.py",),
        ),
    )
    write_phase_issue_file(settings_runs, file)


def test_a_minor_that_survives_three_runs_gets_a_debt_cleanup_phase(
    git_repo: Path, database: Database
) -> None:
    settings = load_settings(git_repo)
    thresholds = AgingThresholds(
        runs=settings.ruleset.aging.runs, tiers=settings.ruleset.aging.tiers
    )
    for number in range(1, 4):
        backlog = load_backlog(database, settings.project.id)
        strategy = create_run_from_plan(
            settings, database, load_plan(EXAMPLE), backlog=backlog, run_id=f"run-{number}"
        )
        assert strategy.phases[0].phase_id == "1.1"
        _raise_lint_issue(settings.runs_dir, strategy.run_id)
        index, aged = settle_run_issues(
            database, settings.runs_dir, settings.project.id, strategy.run_id, thresholds
        )
        assert index.total_count == 1
        assert (settings.runs_dir / strategy.run_id / "run_issue_index.json").exists()
    assert aged[0].effective_severity is Severity.MAJOR
    assert (settings.runs_dir / "project_issue_backlog.json").exists()
    fourth = create_run_from_plan(
        settings,
        database,
        load_plan(EXAMPLE),
        backlog=load_backlog(database, settings.project.id),
        run_id="run-4",
    )
    debt = fourth.phases[0]
    assert debt.task_category is TaskCategory.DEBT_CLEANUP
    assert debt.scope == ("src/todo/repository.py",)
    assert get_run(database, "run-4").tiers[0].phases[0].phase_id == "debt-cleanup"


def test_the_run_records_its_start_and_a_sandbox_opt_out(
    git_repo: Path, database: Database
) -> None:
    settings = load_settings(git_repo)
    create_run_from_plan(
        settings,
        database,
        load_plan(EXAMPLE),
        run_id="run-s",
        base_branch="main",
        base_commit="a" * 40,
        sandbox="none",
    )
    run = get_run(database, "run-s")
    assert (run.base_branch, run.base_commit, run.sandbox) == ("main", "a" * 40, "none")


def test_a_mistyped_llm_alias_creates_nothing(git_repo: Path) -> None:
    settings = load_settings(git_repo)
    with pytest.raises(ConfigError, match=r"--llm 'anthropic-fats' is not a model alias"):
        create_run(settings, EXAMPLE, RunOptions(llm="anthropic-fats", no_sandbox=True))
    assert not settings.runs_dir.exists()
    assert not (git_repo / ".autopack").exists()
