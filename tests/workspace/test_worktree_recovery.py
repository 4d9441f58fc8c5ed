"""Every instant of making a worktree is recoverable: what a SIGKILLed git leaves is repaired.

The states come from real kills where a test can stop git at a known moment (a smudge filter that
waits in the middle of the checkout, a reference-transaction hook that waits while the ref locks
are held, a sweep of kills across a whole `git worktree add`), and are also built file by file
for the moments between git's own writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autopack.apply.policy import WritePolicy
from autopack.config import DEFAULT_PROTECTED_PATHS
from autopack.errors import GitError
from autopack.testing.gate import integrate_attempt
from autopack.testing.git_repos import git
from autopack.workspace.git_cli import GitCli

POLICY = WritePolicy(protected_paths=DEFAULT_PROTECTED_PATHS)
RUN = "run-1"
BRANCH = f"autopack/{RUN}"
NULL_HEAD = "0" * 40


def kill_group(argv: list[str], cwd: Path, *, marker: Path | None = None, delay: float = 0) -> None:
    """Start `argv` in a process group of its own and SIGKILL the whole group (git and its
    children, as when Autopack's group is killed) once `marker` exists, or after `delay`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if marker is None:
        time.sleep(delay)
    else:
        deadline = time.monotonic() + 20
        while not marker.exists():
            assert process.poll() is None, f"{argv} ended before reaching its wait"
            assert time.monotonic() < deadline, f"{argv} never reached its wait"
            time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def admin_dirs_under(repo: Path, root: Path) -> list[Path]:
    """The worktree admin dirs whose `gitdir` names a folder inside `root`."""
    found = []
    for admin in sorted((repo / ".git" / "worktrees").glob("*")):
        gitdir = admin / "gitdir"
        if gitdir.exists() and Path(gitdir.read_text().strip()).is_relative_to(root):
            found.append(admin)
    return found


def orphans(repo: Path) -> list[Path]:
    """Admin dirs git was killed in before it wrote their `gitdir`: they name no folder, so no run
    can claim them, and git neither lists nor uses them."""
    return [
        admin
        for admin in sorted((repo / ".git" / "worktrees").glob("*"))
        if not (admin / "gitdir").exists()
    ]


def assert_nothing_left(repo: Path, adapter: GitCli, run_id: str = RUN) -> None:
    root = adapter.worktree_root / run_id
    assert not root.exists()
    assert f"{root}/" not in git(repo, "worktree", "list", "--porcelain")
    assert admin_dirs_under(repo, root) == []
    assert not (repo / ".git" / "refs" / "heads" / f"autopack/{run_id}.lock").exists()
    assert list((repo / ".git" / "refs" / "tags").rglob("*.lock")) == []


def assert_run_goes_on(repo: Path, adapter: GitCli, head: str, *, free: bool = True) -> None:
    """The run picks up where the branch is: a clean integration worktree at `head`, an attempt
    worktree, a commit and a tag on the branch; then clean-up leaves nothing and the branch is
    free again."""
    integration = adapter.integration_worktree(RUN)
    assert integration.base_commit == head
    assert git(integration.path, "symbolic-ref", "HEAD").strip() == f"refs/heads/{BRANCH}"
    assert git(integration.path, "status", "--porcelain", "--untracked-files=all") == ""
    attempt = adapter.create_attempt_worktree(RUN, "p1-a1")
    assert attempt.base_commit == head
    (attempt.path / "NOTES.md").write_text("notes, and more\n")
    assert integrate_attempt(adapter, RUN, attempt, POLICY).applied
    sha = adapter.commit(RUN, "p1: more notes", {"Autopack-Run": RUN})
    adapter.tag(f"{BRANCH}/p1", sha)
    assert git(repo, "rev-parse", f"{BRANCH}~1").strip() == head
    assert git(repo, "show", f"{BRANCH}:NOTES.md") == "notes, and more\n"
    adapter.remove_run_worktrees(RUN)
    assert_nothing_left(repo, adapter)
    if free:
        git(repo, "branch", "-D", BRANCH)  # refused while any worktree still holds the branch


def branch_with_work(repo: Path, adapter: GitCli) -> str:
    """The run's branch with one commit of its own beyond main, which must never be lost."""
    adapter.ensure_integration_branch(RUN, "main")
    integration = adapter.integration_worktree(RUN)
    (integration.path / "src" / "done.py").write_text("DONE = 1\n")
    git(integration.path, "add", "src/done.py")
    return adapter.commit(RUN, "p0: already done", {"Autopack-Run": RUN})


@pytest.fixture
def slow_repo(user_repo: Path) -> Path:
    """Files behind a smudge filter named `slow`: unconfigured it passes content through, and a
    killed command configures it to wait, so a checkout can be stopped half-way for certain."""
    (user_repo / ".gitattributes").write_text("*.slow filter=slow\n")
    for name in ("a.slow", "b.slow"):
        (user_repo / name).write_text(f"{name}\n")
    git(user_repo, "add", ".gitattributes", "a.slow", "b.slow")
    git(user_repo, "commit", "-qm", "slow files")
    return user_repo


def waiting_filter(marker: Path) -> list[str]:
    return ["git", "-c", f"filter.slow.smudge=touch '{marker}'; exec sleep 60"]


def test_killed_in_the_checkout_of_the_integration_worktree(
    slow_repo: Path, adapter: GitCli, scratch: Path
) -> None:
    head = adapter.ensure_integration_branch(RUN, "main")
    path = adapter.worktree_root / RUN / "integration"
    path.parent.mkdir(parents=True)
    marker = scratch / "checkout-started"
    kill_group(
        [*waiting_filter(marker), "worktree", "add", str(path), BRANCH], slow_repo, marker=marker
    )
    # What git left: a worktree on the branch, locked as initializing, its index never written.
    (admin,) = admin_dirs_under(slow_repo, path)
    assert (admin / "locked").read_text().strip() == "initializing"
    assert (admin / "index.lock").exists()
    assert not (admin / "index").exists()
    assert (admin / "HEAD").read_text().strip() == f"ref: refs/heads/{BRANCH}"

    adapter.recover_run_worktrees(RUN)
    assert_run_goes_on(slow_repo, adapter, head)


def test_killed_in_the_checkout_of_an_attempt_worktree(
    slow_repo: Path, adapter: GitCli, scratch: Path
) -> None:
    adapter.ensure_integration_branch(RUN, "main")
    head = adapter.integration_worktree(RUN).base_commit
    path = adapter.worktree_root / RUN / "p1-a1"
    marker = scratch / "checkout-started"
    argv = [*waiting_filter(marker), "worktree", "add", "--detach", str(path), head]
    kill_group(argv, slow_repo, marker=marker)
    (admin,) = admin_dirs_under(slow_repo, path)
    assert (admin / "locked").read_text().strip() == "initializing"

    adapter.recover_run_worktrees(RUN)
    attempt = adapter.create_attempt_worktree(RUN, "p1-a1")
    assert git(attempt.path, "status", "--porcelain", "--untracked-files=all") == ""
    assert adapter.remove_run_worktrees(RUN) == 2
    assert_nothing_left(slow_repo, adapter)


def test_killed_at_every_moment_of_making_the_integration_worktree(
    user_repo: Path, adapter: GitCli
) -> None:
    """Kills spread over a whole `git worktree add`, each followed by a resume and a clean-up."""
    for index in range(300):
        (user_repo / "many" / f"{index // 30}").mkdir(parents=True, exist_ok=True)
        (user_repo / "many" / f"{index // 30}" / f"{index}.txt").write_text(f"{index}\n")
    git(user_repo, "add", "many")
    git(user_repo, "commit", "-qm", "many files")
    head = adapter.ensure_integration_branch(RUN, "main")
    path = adapter.worktree_root / RUN / "integration"
    argv = ["git", "worktree", "add", str(path), BRANCH]
    started = time.monotonic()
    subprocess.run(argv, cwd=user_repo, check=True, capture_output=True)
    whole = time.monotonic() - started
    adapter.remove_run_worktrees(RUN)

    seen: set[str] = set()
    for step in range(16):
        path.parent.mkdir(parents=True, exist_ok=True)
        kill_group(argv, user_repo, delay=whole * step / 16)
        seen |= {
            "locked" if (admin / "locked").exists() else "unlocked"
            for admin in admin_dirs_under(user_repo, path)
        }
        adapter.recover_run_worktrees(RUN)
        integration = adapter.integration_worktree(RUN)
        assert integration.base_commit == head
        assert git(integration.path, "status", "--porcelain", "--untracked-files=all") == ""
        assert adapter.remove_run_worktrees(RUN) == 1
        assert_nothing_left(user_repo, adapter)
        # A kill between git's mkdir and its first write leaves a nameless admin dir no run can
        # claim; it is invisible to git, and git names the next worktree around it.
        assert all(set(os.listdir(admin)) <= {"locked"} for admin in orphans(user_repo))
    assert "locked" in seen, "no kill landed inside git worktree add"
    assert_run_goes_on(user_repo, adapter, head)


def _locked_after_checkout(path: Path, admin: Path) -> None:
    (admin / "locked").write_text("initializing")


def _null_head(path: Path, admin: Path) -> None:
    # Before its `symbolic-ref`, git holds HEAD at a null id only to make the directory a
    # repository: later commands fail with "Could not parse object 'HEAD'".
    (admin / "locked").write_text("initializing")
    (admin / "HEAD").write_text(NULL_HEAD + "\n")
    (admin / "index").unlink()


def _head_being_written(path: Path, admin: Path) -> None:
    (admin / "locked").write_text("initializing")
    (admin / "HEAD").write_text(NULL_HEAD + "\n")
    (admin / "HEAD.lock").write_text(f"ref: refs/heads/{BRANCH}\n")
    (admin / "index").unlink()


def _no_head_file(path: Path, admin: Path) -> None:
    (admin / "locked").write_text("initializing")
    (admin / "HEAD").unlink()
    (admin / "index").unlink()


def _no_index(path: Path, admin: Path) -> None:
    (admin / "locked").write_text("initializing")
    (admin / "index").unlink()


def _only_registered(path: Path, admin: Path) -> None:
    # Killed after `gitdir` was written and before the worktree's own `.git` file.
    for name in os.listdir(admin):
        if name == "logs":
            shutil.rmtree(admin / name)
        elif name not in ("gitdir", "commondir"):
            (admin / name).unlink()
    (admin / "locked").write_text("initializing")
    shutil.rmtree(path)
    path.mkdir()


def _folder_gone(path: Path, admin: Path) -> None:
    (admin / "locked").write_text("initializing")
    shutil.rmtree(path)


def _on_another_branch(path: Path, admin: Path) -> None:
    git(path, "checkout", "-q", "--detach", "main")


INTEGRATION_STATES: dict[str, Callable[[Path, Path], None]] = {
    "locked after its checkout": _locked_after_checkout,
    "HEAD a null id": _null_head,
    "HEAD being written": _head_being_written,
    "no HEAD file": _no_head_file,
    "no index": _no_index,
    "registered, no .git file": _only_registered,
    "folder gone, still locked": _folder_gone,
    "on another branch": _on_another_branch,
}


@pytest.mark.parametrize("state", INTEGRATION_STATES)
def test_a_broken_integration_worktree_is_remade_and_the_branch_kept(
    user_repo: Path, adapter: GitCli, state: str
) -> None:
    head = branch_with_work(user_repo, adapter)
    path = adapter.worktree_root / RUN / "integration"
    (admin,) = admin_dirs_under(user_repo, path)
    INTEGRATION_STATES[state](path, admin)
    (path.parent / "leftover.txt").write_text("a stray file in the run's folder\n")

    adapter.recover_run_worktrees(RUN)
    assert git(user_repo, "rev-parse", BRANCH).strip() == head
    assert_run_goes_on(user_repo, adapter, head)


def test_integration_worktree_alone_repairs_a_half_made_one(
    user_repo: Path, adapter: GitCli
) -> None:
    head = branch_with_work(user_repo, adapter)
    path = adapter.worktree_root / RUN / "integration"
    (admin,) = admin_dirs_under(user_repo, path)
    _null_head(path, admin)
    assert adapter.integration_worktree(RUN).base_commit == head
    assert adapter.reset_integration(RUN) == head
    assert_run_goes_on(user_repo, adapter, head)


@pytest.mark.parametrize(
    "state", ["locked after its checkout", "HEAD a null id", "folder gone, still locked"]
)
def test_a_broken_attempt_worktree_is_replaced(
    user_repo: Path, adapter: GitCli, state: str
) -> None:
    head = branch_with_work(user_repo, adapter)
    attempt = adapter.create_attempt_worktree(RUN, "p1-a1")
    (admin,) = admin_dirs_under(user_repo, attempt.path)
    INTEGRATION_STATES[state](attempt.path, admin)

    again = adapter.create_attempt_worktree(RUN, "p1-a1")
    assert again.base_commit == head
    assert git(again.path, "rev-parse", "HEAD").strip() == head
    assert git(again.path, "status", "--porcelain", "--untracked-files=all") == ""
    assert adapter.remove_run_worktrees(RUN) == 2
    assert_nothing_left(user_repo, adapter)


def test_remove_run_worktrees_removes_locked_and_half_made_ones(
    user_repo: Path, adapter: GitCli
) -> None:
    branch_with_work(user_repo, adapter)
    for name, state in (
        ("p1-a1", _locked_after_checkout),
        ("p2-a1", _null_head),
        ("p3-a1", _only_registered),
        ("p4-a1", _folder_gone),
    ):
        attempt = adapter.create_attempt_worktree(RUN, name)
        (admin,) = admin_dirs_under(user_repo, attempt.path)
        state(attempt.path, admin)
    assert adapter.remove_run_worktrees(RUN) == 5
    assert_nothing_left(user_repo, adapter)
    git(user_repo, "branch", "-D", BRANCH)


def hook_folder(scratch: Path, name: str, marker: Path, when: str = "") -> Path:
    """A hooks folder whose `name` hook touches `marker` and waits (only when its first argument
    is `when`, if given)."""
    hooks = scratch / f"hooks-{name}"
    hooks.mkdir()
    condition = f'[ "$1" = {when} ] || exit 0\n' if when else ""
    (hooks / name).write_text(f"#!/bin/sh\n{condition}touch '{marker}'\nexec sleep 60\n")
    (hooks / name).chmod(0o755)
    return hooks


def test_killed_while_committing_tagging_and_resetting_leaves_locks_recovery_clears(
    slow_repo: Path, adapter: GitCli, scratch: Path
) -> None:
    user_repo = slow_repo
    head = branch_with_work(user_repo, adapter)
    integration = adapter.integration_worktree(RUN)
    (integration.path / "NOTES.md").write_text("half-way\n")
    git(integration.path, "add", "NOTES.md")
    # Killed with the ref transaction prepared: the branch's ref lock and HEAD's are held.
    marker = scratch / "prepared"
    hooks = hook_folder(scratch, "reference-transaction", marker, when="prepared")
    commit = ["git", "-c", f"core.hooksPath={hooks}", "commit", "-qm", "killed", "--no-verify"]
    kill_group(commit, integration.path, marker=marker)
    marker.unlink()
    tag = ["git", "-c", f"core.hooksPath={hooks}", "tag", f"{BRANCH}/p0", head]
    kill_group(tag, user_repo, marker=marker)
    # Killed in reset_integration's checkout: the index lock is held.
    (integration.path / "a.slow").write_text("changed by an attempt\n")
    marker = scratch / "checkout-started"
    kill_group([*waiting_filter(marker), "reset", "-q", "--hard"], integration.path, marker=marker)

    (admin,) = admin_dirs_under(user_repo, integration.path)
    refs = user_repo / ".git" / "refs"
    stale = {
        admin / "index.lock",
        admin / "HEAD.lock",
        refs / "heads" / f"{BRANCH}.lock",
        refs / "tags" / BRANCH / "p0.lock",
    }
    assert {lock for lock in stale if not lock.exists()} == set()
    with pytest.raises(GitError):
        adapter.commit(RUN, "blocked", {})

    assert set(adapter.recover_run_worktrees(RUN)) == stale
    assert git(user_repo, "rev-parse", BRANCH).strip() == head
    adapter.tag(f"{BRANCH}/p0", head)
    assert adapter.reset_integration(RUN) == head
    assert_run_goes_on(user_repo, adapter, head)


def test_recovery_and_clean_up_leave_the_users_and_other_runs_worktrees_alone(
    user_repo: Path, adapter: GitCli, scratch: Path
) -> None:
    # The user's worktrees: one locked on purpose with a lock inside, one whose folder is gone.
    mine = scratch / "user-worktree"
    git(user_repo, "worktree", "add", "-q", "-b", "feature", str(mine))
    git(user_repo, "worktree", "lock", "--reason", "on a usb stick", str(mine))
    (mine_admin,) = admin_dirs_under(user_repo, mine)
    (mine_admin / "index.lock").write_text("")
    (mine_admin / "HEAD.lock").write_text("")
    gone = scratch / "user-gone"
    git(user_repo, "worktree", "add", "-q", "--detach", str(gone), "main")
    shutil.rmtree(gone)
    # Another run (its id a prefix-extension of this one's), killed in the middle of everything.
    other = GitCli(user_repo, adapter.worktree_root)
    other.ensure_integration_branch("run-10", "main")
    other_path = other.integration_worktree("run-10").path
    (other_admin,) = admin_dirs_under(user_repo, other_path)
    others = [
        other_admin / "locked",
        other_admin / "index.lock",
        other_admin / "HEAD.lock",
        user_repo / ".git" / "refs" / "heads" / "autopack" / "run-10.lock",
        user_repo / ".git" / "packed-refs.lock",
    ]
    for lock in others:
        lock.write_text("initializing\n")

    head = branch_with_work(user_repo, adapter)
    (admin,) = admin_dirs_under(user_repo, adapter.worktree_root / RUN / "integration")
    _null_head(adapter.worktree_root / RUN / "integration", admin)
    (user_repo / ".git" / "refs" / "heads" / f"{BRANCH}.lock").write_text("")
    listed_before = git(user_repo, "worktree", "list", "--porcelain")

    adapter.recover_run_worktrees(RUN)
    # Not free: the packed-refs.lock left in place refuses branch deletions, to everyone.
    assert_run_goes_on(user_repo, adapter, head, free=False)

    assert (mine_admin / "locked").read_text().strip() == "on a usb stick"
    assert (mine_admin / "index.lock").exists()
    assert (mine_admin / "HEAD.lock").exists()
    assert all(lock.exists() for lock in others)
    listed = git(user_repo, "worktree", "list", "--porcelain")
    for folder in (mine, gone, other_path):
        assert f"worktree {folder}\n" in listed_before
        assert f"worktree {folder}\n" in listed
    assert "prunable" in listed  # the user's missing worktree is theirs to prune


def test_a_branch_the_user_checked_out_is_not_taken_from_them(
    user_repo: Path, adapter: GitCli, scratch: Path
) -> None:
    adapter.ensure_integration_branch(RUN, "main")
    theirs = scratch / "user-on-the-branch"
    git(user_repo, "worktree", "add", "-q", str(theirs), BRANCH)
    with pytest.raises(GitError, match="already checked out"):
        adapter.integration_worktree(RUN)
    assert git(theirs, "symbolic-ref", "HEAD").strip() == f"refs/heads/{BRANCH}"
    assert git(theirs, "status", "--porcelain") == ""
    assert not (adapter.worktree_root / RUN / "integration").exists()
