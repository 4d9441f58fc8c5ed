"""GitAdapter over the `git` command line; the only module that runs git.

The user's own working tree, index and current branch are never touched: the integration
branch lives in a worktree of its own and every attempt gets a detached worktree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from autopack.errors import GitError
from autopack.killpoints import reached
from autopack.workspace import repair
from autopack.workspace.base import (
    ApplyOutcome,
    CommitInfo,
    Entry,
    IntegrationStatus,
    StagedAttempt,
    Worktree,
)
from autopack.workspace.diffs import stage_attempt
from autopack.workspace.entries import tree_entries
from autopack.workspace.gitcmd import DIFF_FLAGS, failure, git_argv, git_env, run_git

BRANCH_PREFIX = "autopack/"
# Writing into the integration worktree, git's own checks for names NTFS and HFS+ read as .git
# stay on everywhere, behind ours.
_PROTECTIVE = ("core.protectNTFS=true", "core.protectHFS=true")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


def _check_name(kind: str, name: str) -> str:
    if not _SAFE_NAME.match(name) or ".." in name or name.endswith(".lock"):
        raise GitError(f"{kind} {name!r} is not usable in a git ref")
    return name


class GitCli:
    def __init__(self, repo: Path, worktree_root: Path):
        self.repo = repo.resolve()
        self.worktree_root = worktree_root
        if shutil.which("git") is None:
            raise GitError("git is not installed or not on PATH")
        top, common = self._git("rev-parse", "--show-toplevel", "--git-common-dir").splitlines()
        if Path(top).resolve() != self.repo:
            raise GitError(f"{repo} is not the top of a git work tree (that is {top})")
        # Where every worktree's admin dir and every branch ref live, whichever worktree `repo` is
        # (git prints it relative to `repo` or absolute).
        self.common_dir = (self.repo / common).resolve()

    def _git(
        self, *args: str, cwd: Path | None = None, input_text: str | None = None, check: bool = True
    ) -> str:
        completed = subprocess.run(
            git_argv(*args, config=_PROTECTIVE),
            cwd=cwd or self.repo,
            input=input_text,
            capture_output=True,
            text=True,
            env=git_env(),
            check=False,
        )
        if check and completed.returncode != 0:
            detail = (completed.stderr or completed.stdout).strip().splitlines()
            raise GitError(
                f"git {args[0]} failed: {detail[-1] if detail else completed.returncode}"
            )
        return completed.stdout

    def _run(
        self, args: Sequence[str], cwd: Path, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            git_argv(*args, config=_PROTECTIVE),
            cwd=cwd,
            input=input_text,
            capture_output=True,
            text=True,
            env=git_env(),
            check=False,
        )

    def integration_branch(self, run_id: str) -> str:
        return BRANCH_PREFIX + _check_name("run id", run_id)

    def ensure_integration_branch(self, run_id: str, base_ref: str) -> str:
        """Create `autopack/<run_id>` at `base_ref` if missing (never checked out here); its head commit."""
        branch = self.integration_branch(run_id)
        existing = self._run(
            ["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], self.repo
        )
        if existing.returncode == 0:
            return existing.stdout.strip()
        base = self._git("rev-parse", "--verify", f"{base_ref}^{{commit}}").strip()
        self._git("branch", branch, base)
        return base

    def _run_root(self, run_id: str) -> Path:
        return self.worktree_root / _check_name("run id", run_id)

    def integration_worktree(self, run_id: str) -> Worktree:
        """The integration branch checked out at `<root>/<run_id>/integration`, remade when broken.

        A worktree a kill left half-made, locked, or on another branch is replaced. The branch
        ref is the truth and is never moved here, so no commit is lost: only the worktree's files
        and admin dir are recreated, and its uncommitted files are disposable (reset_integration
        discards them anyway).
        """
        branch = self.integration_branch(run_id)
        path = self._run_root(run_id) / "integration"
        wanted = f"ref: refs/heads/{branch}"
        try:
            head, _ = self._checked_worktree(path, wanted)
        except GitError:
            head, _ = self._add_worktree(path, branch, wanted)
        return Worktree(path=path, base_commit=head, branch=branch)

    def create_attempt_worktree(self, run_id: str, name: str, at: str | None = None) -> Worktree:
        """A detached worktree for one Builder attempt, at `at` (by default the integration
        branch's head)."""
        ref = at or f"refs/heads/{self.integration_branch(run_id)}"
        return self.detached_worktree(run_id, name, ref)

    def detached_worktree(self, group: str, name: str, ref: str) -> Worktree:
        """A fresh detached worktree of `ref` at `<root>/<group>/<name>`, replacing any left there."""
        head = self._git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()
        path = self._run_root(group) / _check_name("worktree", name)
        _, admin = self._add_worktree(path, head, head, detach=True)
        return Worktree(path=path, base_commit=head, git_dir=admin)

    def _checked_worktree(self, path: Path, wanted_head: str) -> tuple[str, Path]:
        """The commit and admin dir of the worktree at `path`, after checking that git finished
        making it: registered, not locked, HEAD as `wanted_head` says and resolving, index present."""
        admin = repair.admin_dir_named_by(self.common_dir, path)
        if admin is None:
            raise GitError(f"{path} is not a registered worktree of this repository")
        problem = repair.worktree_problem(path, admin, wanted_head)
        if problem is not None:
            raise GitError(problem)
        resolved = self._run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], path)
        if resolved.returncode != 0:
            raise GitError(f"{path} has a HEAD that does not resolve to a commit")
        return resolved.stdout.strip(), admin

    def _add_worktree(
        self, path: Path, target: str, wanted_head: str, *, detach: bool = False
    ) -> tuple[str, Path]:
        """`git worktree add` on a cleared `path`, its result checked; its commit and admin dir."""
        self._discard_worktree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = ("--detach",) if detach else ()
        adding = subprocess.Popen(
            git_argv("worktree", "add", "--quiet", *flags, str(path), target, config=_PROTECTIVE),
            cwd=self.repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=git_env(),
        )
        # A crash test kills git and this process here, once git has begun making the worktree.
        reached("git:worktree-add", child=adding, when=(path / ".git").exists)
        stdout, stderr = adding.communicate()
        added = subprocess.CompletedProcess(adding.args, adding.returncode, stdout, stderr)
        if added.returncode == 0:
            try:
                return self._checked_worktree(path, wanted_head)
            except GitError as error:
                problem = str(error)
        else:
            lines = (added.stderr or added.stdout).strip().splitlines()
            # git's own reason is its fatal: or error: line; advice follows it.
            reasons = [line for line in lines if line.startswith(("fatal:", "error:"))]
            problem = (reasons or lines or [f"exit status {added.returncode}"])[0]
        self._discard_worktree(path)
        raise GitError(f"git worktree add of {target} at {path} failed: {problem}")

    def _discard_worktree(self, path: Path) -> None:
        """Remove one of our worktrees whatever state a kill left it in: locked, half-checked-out,
        or registered with its folder gone. Only a folder under the worktree root is accepted,
        and only the admin dir registering that very folder is unlocked and dropped."""
        if not path.resolve().is_relative_to(self.worktree_root.resolve()):
            raise GitError(f"{path} is not under Autopack's worktree root {self.worktree_root}")
        admins = repair.admin_dirs_of(self.common_dir, path)
        for admin in admins:
            # `worktree remove` without a second -f, and `prune`, both skip a locked worktree.
            (admin / repair.LOCKED_MARKER).unlink(missing_ok=True)
        self._run(["worktree", "remove", "-f", "-f", str(path)], self.repo)
        shutil.rmtree(path, ignore_errors=True)
        for admin in admins:
            # A worktree too broken for `worktree remove` keeps its admin dir; `prune` would drop
            # it, but also every other missing worktree's, the user's included.
            repair.drop_admin_dir(admin)

    def remove_worktree(self, worktree: Worktree) -> None:
        self._discard_worktree(worktree.path)

    def remove_run_worktrees(self, run_id: str) -> int:
        """Crash recovery and clean-up: every worktree of the run, whatever state it was left in.

        Locked and half-made worktrees go too, and so do entries whose folder is already gone:
        afterwards git lists none of the run's worktrees and its folder does not exist.
        """
        root = self._run_root(run_id)
        folders = {child.resolve() for child in root.iterdir()} if root.is_dir() else set()
        for admin in repair.admin_dirs_under(self.common_dir, root):
            folder = repair.registered_folder(admin)
            if folder is not None:
                folders.add(folder)
        for folder in sorted(folders):
            self._discard_worktree(folder)
        shutil.rmtree(root, ignore_errors=True)
        return len(folders)

    def recover_run_worktrees(self, run_id: str) -> list[Path]:
        """After a kill: every lock a dead git process left on this run's worktrees and refs, removed.

        Cleared are the `locked` marker and every `*.lock` (index, HEAD, ORIG_HEAD...) of each
        worktree registered under this run's own folder, the lock of its integration branch
        `refs/heads/autopack/<run_id>` and those of its tags under `refs/tags/autopack/<run_id>/`;
        the entries of its worktrees whose folder is gone are dropped. Nothing of the user's or
        of another run is touched. Repository-wide locks (`packed-refs.lock`, the main worktree's
        `HEAD.lock`) are left alone: they are not the run's, and neither stops its commits or tags.

        Safe only for the process holding the run exclusively (its lease), at resume, before it
        runs any git of its own: a lock file records no owner, so a lock is known to be stale
        only because no other process may be working on this run; called anywhere else, this
        would pull a lock from under a live git. Half-made worktrees are left for
        integration_worktree and detached_worktree, which check every worktree they hand out and
        remake what is broken.
        """
        root = self._run_root(run_id)
        removed: list[Path] = []
        for admin in repair.admin_dirs_under(self.common_dir, root):
            removed += repair.clear_locks(admin)
            folder = repair.registered_folder(admin)
            if folder is not None and not folder.exists():
                repair.drop_admin_dir(admin)
        removed += repair.clear_ref_locks(self.common_dir, self.integration_branch(run_id))
        return removed

    def stage_attempt(self, worktree: Worktree) -> StagedAttempt:
        return stage_attempt(worktree)

    def _has_tree(self, tree: str) -> bool:
        return self._run(["cat-file", "-e", f"{tree}^{{tree}}"], self.repo).returncode == 0

    def tree_entries(self, base: str, tree: str, read_cap: int) -> tuple[Entry, ...]:
        return tree_entries(self.repo, base, tree, read_cap)

    def merge_attempt(
        self, run_id: str, staged: StagedAttempt, onto: str | None = None
    ) -> tuple[str | None, ApplyOutcome]:
        """The tree `onto` (by default the integration branch's head) would hold with the attempt
        on top of it.

        When that is the commit the attempt began from, it is the attempt's own tree; otherwise
        the attempt's change is applied 3-way into a private index, so nothing touches any
        worktree until the result has been judged.
        """
        onto = onto or self.integration_worktree(run_id).base_commit
        if onto == staged.base_commit and self._has_tree(staged.tree):
            return staged.tree, ApplyOutcome(applied=True)
        diff = run_git(["diff-tree", "-p", *DIFF_FLAGS, staged.base_commit, staged.tree], self.repo)
        if diff.returncode != 0:
            raise GitError(failure(["diff-tree"], diff))
        with tempfile.TemporaryDirectory(prefix="autopack-index-") as folder:
            index = {"GIT_INDEX_FILE": os.path.join(folder, "index")}
            loaded = run_git(["read-tree", onto], self.repo, env=index)
            if loaded.returncode != 0:
                raise GitError(failure(["read-tree"], loaded))
            merged = run_git(
                ["apply", "--cached", "--3way", "--whitespace=nowarn"],
                self.repo,
                input_bytes=diff.stdout,
                config=_PROTECTIVE,
                env=index,
            )
            written = run_git(["write-tree"], self.repo, env=index)
            if merged.returncode != 0 or written.returncode != 0:
                unmerged = run_git(["ls-files", "-z", "--unmerged"], self.repo, env=index)
                names = {
                    line.split(b"\t", 1)[1].decode("utf-8", "replace")
                    for line in unmerged.stdout.split(b"\0")
                    if b"\t" in line
                }
                text = (merged.stderr or merged.stdout).decode("utf-8", "replace").strip()
                return None, ApplyOutcome(
                    applied=False, three_way=True, conflicts=tuple(sorted(names)), message=text
                )
            return written.stdout.decode().strip(), ApplyOutcome(applied=True, three_way=True)

    def commit_tree(self, tree: str, parent: str) -> str:
        """A commit of `tree` on `parent`, on no branch: a phase's place in the merge train."""
        return self._git("commit-tree", tree, "-p", parent, "-m", "autopack: merge train").strip()

    def tree_of(self, commit: str) -> str:
        return self._git("rev-parse", "--verify", f"{commit}^{{tree}}").strip()

    def candidate_worktree(self, run_id: str, name: str, head: str, tree: str) -> Worktree:
        """A detached worktree at `head` holding `tree` uncommitted, as the integration worktree
        will hold it before its commit: where a phase's merged result is checked in parallel."""
        worktree = self.detached_worktree(run_id, name, head)
        self._git("read-tree", "-m", "-u", "HEAD", tree, cwd=worktree.path)
        return worktree

    def land_tree(self, run_id: str, tree: str) -> None:
        """Make the integration worktree's index and files exactly `tree`; the caller has reset it
        to its head (integrate_staged does, first thing)."""
        self._git("read-tree", "-m", "-u", "HEAD", tree, cwd=self.integration_worktree(run_id).path)

    def reset_integration(self, run_id: str) -> str:
        """Discard whatever is applied but uncommitted on the integration worktree; its head."""
        integration = self.integration_worktree(run_id)
        self._git("reset", "--hard", "--quiet", "HEAD", cwd=integration.path)
        self._git("clean", "-fdq", cwd=integration.path)
        return integration.base_commit

    def head_trailers(self, run_id: str) -> dict[str, str]:
        """The trailers of the integration branch's newest commit."""
        text = self._git(
            "log",
            "-1",
            "--format=%(trailers:only,unfold)",
            cwd=self.integration_worktree(run_id).path,
        )
        return dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in text.splitlines() if ":" in line)
        )

    def commit(self, run_id: str, subject: str, trailers: Mapping[str, str]) -> str:
        integration = self.integration_worktree(run_id)
        body = "\n".join(f"{key}: {value}" for key, value in trailers.items())
        self._git(
            "commit", "--quiet", "--no-verify", "-m", subject, "-m", body, cwd=integration.path
        )
        return self._git("rev-parse", "HEAD", cwd=integration.path).strip()

    def tag(self, name: str, commit: str) -> None:
        """Tag `commit`; a tag already there for the same commit (a resumed step) is kept."""
        existing = self._run(
            ["rev-parse", "--verify", "--quiet", f"refs/tags/{name}^{{commit}}"], self.repo
        )
        if existing.returncode == 0 and existing.stdout.strip() == commit:
            return
        self._git("tag", "--force", name, commit)

    def integration_status(self, run_id: str, base_commit: str) -> IntegrationStatus:
        branch = self.integration_branch(run_id)
        head = self._git("rev-parse", f"refs/heads/{branch}").strip()
        log = self._git(
            "log", "--format=%H%x00%s%x00%(trailers:only,unfold)%x1e", f"{base_commit}..{head}"
        )
        commits = []
        for record in filter(None, (chunk.strip() for chunk in log.split("\x1e"))):
            sha, subject, trailer_text = [*record.split("\x00"), "", ""][:3]
            trailers = dict(
                (key.strip(), value.strip())
                for key, _, value in (
                    line.partition(":") for line in trailer_text.splitlines() if ":" in line
                )
            )
            commits.append(CommitInfo(sha=sha, subject=subject, trailers=trailers))
        return IntegrationStatus(
            branch=branch, base_commit=base_commit, head_commit=head, commits=tuple(commits)
        )

    def show_commit(self, sha: str) -> str:
        """A commit's message, file summary and patch, as `git show` prints them."""
        return self._git("show", "--stat", "--patch", "--format=%H%n%s%n%n%b", sha)

    def file_at(self, commit: str, path: str) -> bytes | None:
        """A file's bytes as a commit holds it; None when the commit has no such file."""
        completed = run_git(["cat-file", "blob", f"{commit}:{path}"], self.repo)
        return completed.stdout if completed.returncode == 0 else None

    def current_branch(self) -> str | None:
        completed = self._run(["symbolic-ref", "--quiet", "--short", "HEAD"], self.repo)
        return completed.stdout.strip() if completed.returncode == 0 else None

    def head_commit(self, ref: str = "HEAD") -> str:
        return self._git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()

    def _checked_out_at(self, branch: str) -> Path | None:
        current: Path | None = None
        for line in self._git("worktree", "list", "--porcelain").splitlines():
            if line.startswith("worktree "):
                current = Path(line.removeprefix("worktree "))
            elif line == f"branch refs/heads/{branch}":
                return current
        return None

    def promote(self, run_id: str, into: str) -> str:
        """Merge the integration branch into `into`; the new head of `into`.

        Where `into` is checked out (usually the user's own tree) it must have no uncommitted
        changes to tracked files; elsewhere the merge happens in a temporary worktree.
        """
        source = self.integration_branch(run_id)
        self._git("rev-parse", "--verify", f"refs/heads/{into}")
        where = self._checked_out_at(into)
        temporary = where is None
        if where is None:
            where = self._run_root(run_id) / "promote"
            self._add_worktree(where, into, f"ref: refs/heads/{into}")
        try:
            if self._git("status", "--porcelain", "--untracked-files=no", cwd=where).strip():
                raise GitError(
                    f"{into} has uncommitted changes in {where}; commit or stash them, then promote again"
                )
            merged = self._run(
                ["merge", "--no-ff", "--no-edit", "-m", f"Promote {source} into {into}", source],
                where,
            )
            if merged.returncode != 0:
                conflicts = self._git("diff", "--name-only", "--diff-filter=U", cwd=where).split()
                self._run(["merge", "--abort"], where)
                raise GitError(
                    f"merging {source} into {into} conflicts in {', '.join(conflicts) or 'some files'}; nothing was changed"
                )
            return self._git("rev-parse", "HEAD", cwd=where).strip()
        finally:
            if temporary:
                self.remove_worktree(Worktree(path=where, base_commit=""))
