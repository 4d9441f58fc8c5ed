"""`autopack init`, `plan` and `backlog` driven as a user would, through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "todo-app"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_plan_prints_every_tier_and_phase_with_its_strategy(repo: Path) -> None:
    code, out, _ = invoke("plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo))
    assert code == 0
    for needle in (
        "Tier",
        "security_auth_change",
        "strict",
        "tok /",
        "anthropic-top",
        "Run 1 of 1",
    ):
        assert needle in out


def test_plan_json_is_the_frozen_strategy(repo: Path) -> None:
    code, out, _ = invoke(
        "plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo), "--json"
    )
    assert code == 0
    runs = json.loads(out)["runs"]
    assert len(runs) == 1
    phases = [phase for tier in runs[0]["tiers"] for phase in tier["phases"]]
    assert phases
    assert all(phase["category_reason"] for phase in phases)
    assert runs[0]["limits"]["budget"]["tokens"] == 5_000_000


def test_plan_over_max_phases_lists_several_runs(repo: Path) -> None:
    (repo / "autopack.toml").write_text("[ruleset.run]\nmax_phases = 4\n")
    code, out, _ = invoke(
        "plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo), "--json"
    )
    assert code == 0, out
    runs = json.loads(out)["runs"]
    assert len(runs) >= 2
    assert all(sum(len(t["phases"]) for t in run["tiers"]) <= 4 for run in runs)


def test_bad_plan_is_one_sentence_with_file_and_line(repo: Path) -> None:
    bad = repo / "plan.md"
    bad.write_text("# P\n\n## Tier 1: One\n\n### Phase a: A\ncategory: nonsense\n")
    code, out, err = invoke("plan", str(bad), "--repo", str(repo))
    assert code == 3
    assert f"{bad}:6" in err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1


def test_missing_plan_file_is_a_clear_error(repo: Path) -> None:
    code, _, err = invoke("plan", str(repo / "nope.md"), "--repo", str(repo))
    assert code == 3
    assert "nope.md" in err


def test_missing_repo_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = invoke(
        "plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(tmp_path / "gone")
    )
    assert code == 4
    assert "does not exist" in err


def test_bad_config_is_a_clear_error(repo: Path) -> None:
    (repo / "autopack.toml").write_text("[ruleset.run]\ntoken_cap = 'lots'\n")
    code, _, err = invoke("plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo))
    assert code == 2
    assert "ruleset.run.token_cap" in err


def test_init_writes_a_config_the_plan_command_accepts(repo: Path) -> None:
    code, out, _ = invoke("init", "--repo", str(repo), "--project-id", "todo")
    assert code == 0
    assert (repo / "autopack.toml").exists()
    code, _, err = invoke("init", "--repo", str(repo))
    assert code == 2
    assert "already exists" in err
    code, out, _ = invoke(
        "plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo), "--json"
    )
    assert code == 0
    assert json.loads(out)["runs"][0]["project_id"] == "todo"


def test_plan_does_not_create_a_database(repo: Path) -> None:
    invoke("plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo))
    assert not (repo / ".autopack").exists()


def test_empty_backlog_says_so(repo: Path) -> None:
    code, out, _ = invoke("backlog", "--repo", str(repo))
    assert code == 0
    assert "empty" in out
    code, out, _ = invoke("backlog", "--repo", str(repo), "--json")
    assert json.loads(out) == {"project_id": "todo-app", "issues": []}


def test_console_script_runs_without_traceback(repo: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "autopack", "plan", str(repo / "missing.md"), "--repo", str(repo)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 3
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("autopack: error:")


def test_help_explains_the_commands() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for command in ("init", "plan", "backlog"):
        assert command in out


def test_backlog_and_plan_show_aged_issues_from_the_database(repo: Path) -> None:
    from autopack.domain.issues import BacklogEntry
    from autopack.domain.vocabulary import IssueSource, Severity
    from autopack.store.engine import database_url_for, open_database
    from autopack.store.issue_records import save_backlog

    database = open_database(database_url_for(repo, {}))
    aged = BacklogEntry(
        issue_key="lint:unused-import",
        severity=Severity.MINOR,
        effective_severity=Severity.MAJOR,
        category="lint",
        source=IssueSource.STATIC_CHECK,
        age_in_runs=3,
        first_seen_run="run-1",
        last_seen_run="run-3",
        paths=("src/todo/repository.py",),
    )
    save_backlog(database, "todo-app", [aged])
    database.close()
    code, out, _ = invoke("backlog", "--repo", str(repo))
    assert code == 0
    assert "lint:unused-import" in out
    assert "major" in out
    code, out, _ = invoke("backlog", "--repo", str(repo), "--json")
    assert json.loads(out)["issues"][0]["effective_severity"] == "major"
    code, out, _ = invoke(
        "plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo), "--json"
    )
    first = json.loads(out)["runs"][0]["tiers"][0]["phases"][0]
    assert (first["phase_id"], first["task_category"]) == ("debt-cleanup", "debt_cleanup")
    assert "lint:unused-import" in first["inserted_reason"]


def test_plan_single_tier_and_safety_profile_options(repo: Path) -> None:
    plan_path = str(EXAMPLES / "comprehensive_plan.md")
    code, out, _ = invoke("plan", plan_path, "--repo", str(repo), "--tier", "2", "--json")
    run = json.loads(out)["runs"][0]
    assert code == 0
    assert run["run_scope"] == "single_tier"
    assert [t["tier_id"] for t in run["tiers"]] == ["2"]
    code, out, _ = invoke(
        "plan", plan_path, "--repo", str(repo), "--safety-profile", "safety_critical", "--json"
    )
    run = json.loads(out)["runs"][0]
    assert {p["ci_profile"] for t in run["tiers"] for p in t["phases"]} == {"strict"}
    assert {t["major_issues_tolerated"] for t in run["tiers"]} == {0}
    code, _, err = invoke("plan", plan_path, "--repo", str(repo), "--tier", "9")
    assert code == 3
    assert "no tier '9'" in err


def test_a_partial_policy_keeps_every_default_protected_path_and_plan_shows_what_was_given_up(
    repo: Path,
) -> None:
    (repo / "autopack.toml").write_text(
        '[policy]\nmax_files = 50\nprotected_paths = ["docs/**"]\nunprotect = [".circleci/**"]\n'
    )
    code, out, _ = invoke("plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo))
    assert code == 0, out
    assert "Protected paths: .github/workflows/**, .gitlab-ci.yml, autopack.toml" in out
    assert "docs/**" in out
    assert "Default protected paths given up ([policy] unprotect): .circleci/**" in out
    code, out, _ = invoke(
        "plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo), "--json"
    )
    policy = json.loads(out)["policy"]
    assert ".github/workflows/**" in policy["protected"]
    assert ".circleci/**" not in policy["protected"]
    assert policy["unprotect"] == [".circleci/**"]


def test_unprotecting_a_glob_that_is_not_a_default_is_a_config_error(repo: Path) -> None:
    (repo / "autopack.toml").write_text('[policy]\nunprotect = ["src/**"]\n')
    code, out, err = invoke("plan", str(EXAMPLES / "comprehensive_plan.md"), "--repo", str(repo))
    assert code != 0
    assert "policy.unprotect" in err + out or "unprotect names 'src/**'" in err + out


UPSTREAM_PLAN = """# Upstream plan

## Tier 1: Names from upstream

### Phase 1.1: Scaffold the service
category: feature_scaffolding

### Phase 1.2: Bring in the parser library
category: external_code_intake

### Phase 1.3: Add the orders table
category: SCHEMA_CHANGE

### Phase 1.4: Token checks
category: security_auth

### Phase 1.5: Rename across modules
category: bulk_operation

### Phase 1.6: Update the plugin registry
category: index_registry_maintenance
"""


def test_plans_in_upstream_category_names_are_read_as_ours_and_plan_shows_it(
    repo: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "upstream.md"
    plan.write_text(UPSTREAM_PLAN)
    code, out, err = invoke("plan", str(plan), "--repo", str(repo), "--json")
    assert code == 0, err
    phases = json.loads(out)["runs"][0]["tiers"][0]["phases"]
    assert [phase["task_category"] for phase in phases] == [
        "feature",
        "external_feature_reuse",
        "schema_contract_change",
        "security_auth_change",
        "bulk_multi_file_operation",
        "index_registry_change",
    ]
    assert phases[2]["category_reason"] == "given in the plan as 'SCHEMA_CHANGE' (upstream name)"
    code, out, _ = invoke("plan", str(plan), "--repo", str(repo))
    assert "upstream" in out  # the table wraps the reason; --json above has it whole
    (tmp_path / "unknown.md").write_text(UPSTREAM_PLAN.replace("bulk_operation", "bulk_thing"))
    code, out, err = invoke("plan", str(tmp_path / "unknown.md"), "--repo", str(repo))
    assert code != 0
    assert "unknown category 'bulk_thing'" in out + err
