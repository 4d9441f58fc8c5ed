"""Promotion merges only eligible runs, says every reason otherwise, and respects the user's tree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.config import Settings, load_settings
from autopack.domain.machines import RunEvent
from autopack.domain.states import FailureReason
from autopack.domain.vocabulary import Cleanliness
from autopack.plan.load import load_plan
from autopack.run.create import create_run_from_plan
from autopack.run.promote import PromotionRefused, promote_run
from autopack.store.engine import Database, database_url_for, open_database
from autopack.store.runs import set_tier_cleanliness
from autopack.store.state_changes import transition_run
from autopack.testing.gate import integrate_attempt
from autopack.testing.git_repos import git
from autopack.workspace.git_cli import GitCli, GitError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "comprehensive_plan.md"


@pytest.fixture
def settings(user_repo: Path) -> Settings:
    return load_settings(user_repo)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    opened = open_database(database_url_for(settings.repo_root, {}))
    yield opened
    opened.close()


def finished_run(
    settings: Settings, database: Database, adapter: GitCli, *, succeed: bool = True
) -> str:
    strategy = create_run_from_plan(
        settings,
        database,
        load_plan(EXAMPLE),
        run_id="run-1",
        base_branch="main",
        base_commit=adapter.head_commit("main"),
    )
    adapter.ensure_integration_branch("run-1", "main")
    attempt = adapter.create_attempt_worktree("run-1", "p1-a1")
    (attempt.path / "src" / "feature.py").write_text("FEATURE = True\n")
    assert integrate_attempt(adapter, "run-1", attempt, settings.policy).applied
    adapter.commit("run-1", "1.1: feature", {"Autopack-Run": "run-1", "Autopack-Phase": "1.1"})
    transition_run(database, strategy.run_id, RunEvent.QUEUE_OPENED, cause="test")
    if succeed:
        transition_run(database, strategy.run_id, RunEvent.ALL_PHASES_DONE, cause="test")
    else:
        reason = FailureReason(code="budget.run_usd", message="The run spent its $50.")
        transition_run(
            database, strategy.run_id, RunEvent.BUDGET_EXHAUSTED, cause="test", reason=reason
        )
    return strategy.run_id


def test_eligible_run_merges_into_a_branch_that_is_not_checked_out(
    settings: Settings, database: Database, adapter: GitCli, user_repo: Path
) -> None:
    run_id = finished_run(settings, database, adapter)
    git(user_repo, "branch", "release", "main")
    status_before = git(user_repo, "status", "--porcelain")
    target, head = promote_run(database, adapter, run_id, "release")
    assert target == "release"
    assert git(user_repo, "rev-parse", "release").strip() == head
    assert git(user_repo, "show", "release:src/feature.py") == "FEATURE = True\n"
    assert git(user_repo, "status", "--porcelain") == status_before
    assert "promote" not in git(user_repo, "worktree", "list")


def test_promotion_into_a_dirty_checked_out_branch_is_refused(
    settings: Settings, database: Database, adapter: GitCli, user_repo: Path
) -> None:
    run_id = finished_run(settings, database, adapter)
    main_before = git(user_repo, "rev-parse", "main")
    with pytest.raises(GitError, match="uncommitted changes"):
        promote_run(database, adapter, run_id)
    assert git(user_repo, "rev-parse", "main") == main_before
    git(user_repo, "checkout", "--", "README.md")
    target, head = promote_run(database, adapter, run_id)
    assert target == "main"
    assert (user_repo / "src" / "feature.py").read_text() == "FEATURE = True\n"
    assert (user_repo / "scratch.txt").exists()
    assert git(user_repo, "rev-parse", "main").strip() == head


def test_ineligible_runs_list_every_reason_and_merge_nothing(
    settings: Settings, database: Database, adapter: GitCli, user_repo: Path
) -> None:
    run_id = finished_run(settings, database, adapter, succeed=False)
    set_tier_cleanliness(database, run_id, "2", Cleanliness.NOT_CLEAN)
    main_before = git(user_repo, "rev-parse", "main")
    with pytest.raises(PromotionRefused) as caught:
        promote_run(database, adapter, run_id, "main")
    reasons = caught.value.decision.reasons
    assert len(reasons) == 3
    assert "DONE_FAILED_BUDGET_EXHAUSTED" in reasons[0]
    assert "tier(s) 2 are not clean" in reasons[1]
    assert "budget cap" in reasons[2]
    assert git(user_repo, "rev-parse", "main") == main_before


def test_promote_command(
    settings: Settings, database: Database, adapter: GitCli, user_repo: Path
) -> None:
    run_id = finished_run(settings, database, adapter, succeed=False)
    runner = CliRunner()
    refused = runner.invoke(app, ["promote", run_id, "--repo", str(user_repo), "--into", "main"])
    assert refused.exit_code == 7
    assert "cannot be promoted" in refused.stderr
    assert "budget cap" in refused.stderr
    missing = runner.invoke(app, ["promote", "run-nope", "--repo", str(user_repo)])
    assert missing.exit_code == 5
    assert "no run 'run-nope'" in missing.stderr


def test_promote_command_merges(
    settings: Settings, database: Database, adapter: GitCli, user_repo: Path
) -> None:
    run_id = finished_run(settings, database, adapter)
    git(user_repo, "branch", "release", "main")
    result = CliRunner().invoke(
        app, ["promote", run_id, "--repo", str(user_repo), "--into", "release", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    assert '"into": "release"' in result.stdout
