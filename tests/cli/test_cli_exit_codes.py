"""Each class of outcome exits with its own code, through the installed command as a shell sees it;
and the table users read (docs/operations.md, `autopack help exit-codes`) is the one the code uses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from autopack.cli import exit_codes
from autopack.cli.run_commands import RUN_FAILED_EXIT
from autopack.errors import (
    AutopackError,
    ConfigError,
    GitError,
    NotFound,
    PlanError,
    RepoError,
    StoreError,
)
from autopack.run.lease import RunBusy
from autopack.run.promote import ApprovalRefused, PromotionRefused
from autopack.verify.bubblewrap import SandboxUnavailable

OPERATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
EXAMPLE_PLAN = Path(__file__).resolve().parents[2] / "examples" / "comprehensive_plan.md"


def autopack(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autopack", *arguments],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd or Path.cwd())},  # no API key
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def test_usage_errors_exit_64_not_clicks_2(repo: Path) -> None:
    for arguments in (("plan", "--no-such-flag"), ("no-such-command",), ("status", "a", "b")):
        completed = autopack(*arguments, cwd=repo)
        assert completed.returncode == exit_codes.USAGE == 64, arguments
        assert "Traceback" not in completed.stderr


def test_a_configuration_error_exits_2(repo: Path) -> None:
    (repo / "autopack.toml").write_text("[ruleset.run]\ntoken_cap = 'lots'\n")
    completed = autopack("plan", str(EXAMPLE_PLAN), cwd=repo)
    assert completed.returncode == exit_codes.CONFIG == 2
    assert completed.stderr.startswith("autopack: error:")


def test_a_preflight_refusal_is_a_configuration_error(repo: Path) -> None:
    (repo / "README.md").write_text("x\n")
    git = ["git", "-C", str(repo), "-c", "user.name=U", "-c", "user.email=u@x"]
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    # No key for the aliases the plan routes to: refused before any run or branch exists.
    completed = autopack("run", str(EXAMPLE_PLAN), cwd=repo)
    assert completed.returncode == exit_codes.CONFIG, completed.stderr
    branches = subprocess.run([*git, "branch", "--list"], capture_output=True, text=True).stdout
    assert "autopack/" not in branches
    assert autopack("runs", cwd=repo).stdout.strip() == "no runs yet"


def test_a_bad_plan_exits_3(repo: Path) -> None:
    (repo / "plan.md").write_text("# P\n\n## Tier 1: One\n\n### Phase a: A\ncategory: nonsense\n")
    completed = autopack("plan", "plan.md", cwd=repo)
    assert completed.returncode == exit_codes.PLAN == 3
    assert "plan.md:6" in completed.stderr


def test_no_repository_exits_4(tmp_path: Path) -> None:
    completed = autopack("plan", str(EXAMPLE_PLAN), "--repo", str(tmp_path / "gone"), cwd=tmp_path)
    assert completed.returncode == exit_codes.REPOSITORY == 4


def test_an_unknown_run_exits_5(repo: Path) -> None:
    completed = autopack("status", "no-such-run", cwd=repo)
    assert completed.returncode == exit_codes.STORE == 5
    assert "no-such-run" in completed.stderr


def test_a_failed_check_exits_8(repo: Path) -> None:
    completed = autopack("models", "--check", "--alias", "openai-fast", cwd=repo)
    assert completed.returncode == exit_codes.CHECK_FAILED == 8, completed.stderr
    assert "OPENAI_API_KEY is not set" in completed.stdout


def test_the_codes_are_those_of_the_error_classes_and_the_documented_table() -> None:
    assert AutopackError.exit_code == exit_codes.UNEXPECTED
    assert ConfigError.exit_code == exit_codes.CONFIG
    assert PlanError.exit_code == exit_codes.PLAN
    assert RepoError.exit_code == GitError.exit_code == exit_codes.REPOSITORY
    assert StoreError.exit_code == NotFound.exit_code == exit_codes.STORE
    assert SandboxUnavailable.exit_code == exit_codes.ENVIRONMENT
    assert PromotionRefused.exit_code == ApprovalRefused.exit_code == exit_codes.REFUSED
    assert RunBusy.exit_code == exit_codes.BUSY
    assert RUN_FAILED_EXIT == exit_codes.RUN_FAILED
    table = [code for code, _, _ in exit_codes.TABLE]
    assert len(set(table)) == len(table)
    section = OPERATIONS_DOC.read_text().split("## Exit codes", 1)[1]
    documented = [int(code) for code in re.findall(r"^\| (\d+) \|", section, re.M)]
    assert documented == table
    printed = autopack("help", "exit-codes").stdout
    assert [int(line.split()[0]) for line in printed.splitlines()] == table
    assert "64 usage" in autopack("--help").stdout.replace("\n", " ")
