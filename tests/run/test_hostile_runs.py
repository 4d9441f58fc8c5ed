"""Whole runs where the Builder makes hostile files in its worktree, inside the real sandbox.

Each run goes through `create_run` + `execute_run` with the real OpenAI SDK talking to the fake
server; the Builder's answers for phase 1.1 are scripted (shell commands through `run_command`,
edits through `edit`), every other phase is the demo developer. What is checked is what the gate
lets onto `autopack/<run_id>` and what it leaves untouched everywhere else.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from autopack.cli.main import app
from autopack.config import load_settings
from autopack.demo.developer import demo_reply, edits_for
from autopack.demo.project import create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.run.execute import RunEnd, create_run, execute_run
from autopack.run.services import RunOptions
from autopack.testing.fake_llm import FakeLLMServer, Reply, ToolCall, fake_llm_server
from autopack.verify.bubblewrap import BubblewrapSandbox
from autopack.workspace.git_cli import GitCli

Script = Callable[[str, dict[str, Any]], Reply]

# The demo developer's real change for phase 1.1 (subtract and its test), so a run can succeed.
DEMO_EDIT = ToolCall(name="edit", arguments={"edits": edits_for("1.1")})
EVIL_WORKFLOW = "mkdir -p .github/workflows && echo 'on: push' > .github/workflows/evil.yml"
POLICY_VIOLATION = RunState.DONE_FAILED_POLICY_VIOLATION


def _git_bytes(root: Path, *args: str) -> bytes:
    """git as the test reads it, whatever the (possibly hostile) global configuration says."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True, env=env).stdout


def _git(root: Path, *args: str) -> str:
    return _git_bytes(root, *args).decode().strip()


def _phase_commits(root: Path, run_id: str) -> list[str]:
    log = _git(
        root, "log", "--format=%(trailers:key=Autopack-Phase,valueonly)", f"main..autopack/{run_id}"
    )
    return [line for line in log.splitlines() if line.strip()]


def _branch_files(root: Path, run_id: str) -> list[str]:
    return _git(root, "ls-tree", "-r", "-z", "--name-only", f"autopack/{run_id}").split("\0")


def _task(request: dict[str, Any]) -> str:
    return next((m["content"] for m in request["messages"] if m["role"] == "user"), "")


def _is_auditor(request: dict[str, Any]) -> bool:
    return "report" in json.dumps(request.get("tools", []))


def _answered(request: dict[str, Any]) -> int:
    return sum(1 for m in request["messages"] if m["role"] == "tool")


def shell(command: str) -> ToolCall:
    return ToolCall(name="run_command", arguments={"command": command})


def scripted(steps: Sequence[ToolCall], requests: list[dict[str, Any]] | None = None) -> Script:
    """Phase 1.1's Builder makes `steps` one per turn, then finishes; the demo does the rest."""

    def script(api: str, request: dict[str, Any]) -> Reply:
        if requests is not None:
            requests.append(request)
        if "# Phase 1.1:" in _task(request) and not _is_auditor(request):
            answered = _answered(request)
            if answered < len(steps):
                return Reply(tool_calls=(steps[answered],))
            return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "done"}),))
        return demo_reply(api, request)

    return script


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, sandbox: BubblewrapSandbox
) -> Iterator[Callable[[Script], FakeLLMServer]]:
    """The fake OpenAI server; requesting `sandbox` skips (or fails, in CI) without bubblewrap."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    servers: list[Any] = []

    def start(script: Script) -> FakeLLMServer:
        context = fake_llm_server(script)
        servers.append(context)
        return context.__enter__()

    yield start
    for context in servers:
        context.__exit__(None, None, None)


@dataclass(frozen=True)
class Before:
    """What a refused run must leave as it found it."""

    status: str
    refs: list[str]
    main: str
    git_config: bytes
    beside: dict[str, bytes]


def _folder(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(path.rglob("*"))
    }


@dataclass
class Project:
    root: Path
    plan: Path
    beside: Path

    @classmethod
    def create(cls, tmp_path: Path, server: FakeLLMServer, extra: str = "") -> Project:
        root = tmp_path / "calc"
        plan = create_project(root, extra_config=aliases_on(server.openai_base_url) + extra)
        beside = tmp_path / "beside"
        beside.mkdir()
        (beside / "notes.txt").write_text("the user's other project\n")
        return cls(root, plan, beside)

    def only_phase_1_1(self) -> None:
        """Shorter runs where the other phases prove nothing more."""
        self.plan.write_text(self.plan.read_text().split("### Phase 1.2")[0])

    def snapshot(self) -> Before:
        return Before(
            status=_git(self.root, "status", "--porcelain", "--untracked-files=all"),
            refs=_git(self.root, "for-each-ref", "--format=%(refname)").splitlines(),
            main=_git(self.root, "rev-parse", "main"),
            git_config=(self.root / ".git" / "config").read_bytes(),
            beside=_folder(self.beside),
        )

    def run(self) -> tuple[RunEnd, Path]:
        settings = load_settings(self.root)
        run_id = create_run(settings, self.plan, RunOptions())
        return execute_run(settings, run_id, RunOptions()), settings.runs_dir / run_id

    def assert_nothing_landed(self, end: RunEnd, before: Before) -> None:
        root = self.root
        assert _git(root, "rev-parse", f"autopack/{end.run_id}") == before.main
        assert _git(root, "rev-parse", "main") == before.main
        assert _git(root, "status", "--porcelain", "--untracked-files=all") == before.status
        refs = _git(root, "for-each-ref", "--format=%(refname)").splitlines()
        assert sorted(refs) == sorted(
            {*before.refs, "refs/heads/main", f"refs/heads/autopack/{end.run_id}"}
        )
        assert (root / ".git" / "config").read_bytes() == before.git_config
        assert _folder(self.beside) == before.beside


def _refused(
    tmp_path: Path,
    served: Callable[[Script], FakeLLMServer],
    steps: Sequence[ToolCall],
    extra: str = "",
) -> str:
    """A run whose phase 1.1 Builder takes `steps`; ends refused, having written nothing."""
    project = Project.create(tmp_path, served(scripted(steps)), extra)
    before = project.snapshot()
    end, _ = project.run()
    message = end.message or ""
    assert end.state is POLICY_VIOLATION, message
    project.assert_nothing_landed(end, before)
    return message


# 1. Symlinks, here out of the repository, under a name with a space.


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("", "symlinks may not be created"),
        ('\n[policy]\nsymlinks = ["docs/**"]\n', "outside the repository"),
    ],
    ids=["no-symlinks-allowed", "allowed-glob-but-target-outside"],
)
def test_a_symlink_out_of_the_repository_ends_the_run_refused(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer], extra: str, why: str
) -> None:
    steps = [shell("mkdir -p docs && ln -s /etc/passwd 'docs/my link'")]
    message = _refused(tmp_path, served, steps, extra)
    assert "rule: mode.symlink" in message
    assert "docs/my link" in message
    assert why in message
    assert not (tmp_path / "calc" / "docs").exists()


# 2. Text that looks like a diff is only text.

NOTES = (
    "Release notes\fpage two\vvertical tab\u2028line separator\u2029paragraph\n"
    "diff --git a/.github/workflows/x.yml b/.github/workflows/x.yml\n"
    "new file mode 120000\n"
    "--- /dev/null\n"
    "+++ b/.github/workflows/x.yml\n"
    "@@ -0,0 +1 @@\n"
    "+on: push\n"
    "\\ No newline at end of file\n"
).encode()


def test_a_text_file_that_looks_like_a_diff_lands_byte_for_byte_and_nothing_else(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    encoded = base64.b64encode(NOTES).decode()
    steps = [shell(f"mkdir -p docs && echo {encoded} | base64 -d > docs/notes.txt"), DEMO_EDIT]
    project = Project.create(tmp_path, served(scripted(steps)))
    project.only_phase_1_1()
    end, _ = project.run()
    assert end.state is RunState.DONE_SUCCESS, end.message
    root = project.root
    assert _git_bytes(root, "show", f"autopack/{end.run_id}:docs/notes.txt") == NOTES
    files = _branch_files(root, end.run_id)
    assert not [name for name in files if name.startswith(".github")]
    assert "tests/test_subtract.py" in files
    assert _phase_commits(root, end.run_id) == ["1.1"]


# 3. The user's global git configuration cannot change what our git output means.

HOSTILE_GITCONFIG = """[diff]
\tnoprefix = true
\tmnemonicPrefix = true
\tcontext = 0
\texternal = /bin/false
[color]
\tui = always
\tdiff = always
[core]
\tquotePath = false
[apply]
\twhitespace = error
"""


@pytest.fixture
def hostile_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(HOSTILE_GITCONFIG)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    # The configuration really is the one git reads now.
    read = subprocess.run(
        ["git", "config", "--global", "--get", "diff.noprefix"], capture_output=True, text=True
    )
    assert read.stdout.strip() == "true"
    return home


def test_under_a_hostile_global_git_config_the_demo_plan_still_lands_a_commit_per_phase(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer], hostile_home: Path
) -> None:
    project = Project.create(tmp_path, served(demo_reply))
    end, run_dir = project.run()
    assert end.state is RunState.DONE_SUCCESS, end.message
    root = project.root
    assert sorted(_phase_commits(root, end.run_id)) == ["1.1", "1.2", "2.1", "2.2"]
    ops = _git(root, "show", f"autopack/{end.run_id}:calc/ops.py")
    assert "return a - b" in ops
    assert "cannot divide by zero" in ops
    # What the run shows of its work reads the same under that configuration: the attempts'
    # diffs (plumbing) and a commit as the dashboard shows it (`git show`, porcelain).
    diff = (run_dir / "attempts" / "1.1-a1" / "diff.patch").read_text()
    assert diff.startswith("diff --git a/calc/ops.py b/calc/ops.py\n")
    settings = load_settings(root)
    head = _git(root, "rev-parse", f"autopack/{end.run_id}")
    shown = GitCli(settings.repo_root, settings.worktree_root).show_commit(head)
    assert "\x1b[" not in shown
    assert "diff --git a/README.md b/README.md\n" in shown
    assert "\n # calc\n" in shown  # context two lines above the added table: not diff.context=0


def test_under_a_hostile_global_git_config_a_protected_path_is_still_refused(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer], hostile_home: Path
) -> None:
    message = _refused(tmp_path, served, [shell(EVIL_WORKFLOW)])
    assert "rule: path.protected" in message
    assert ".github/workflows/evil.yml" in message


# 4. A nested repository is a gitlink, never a plain folder.


NESTED_REPO = "mkdir -p vendor/lib && cd vendor/lib && git init -q && echo x > f && git add f"


@pytest.mark.parametrize(
    "command",
    [NESTED_REPO + " && git -c user.name=a -c user.email=a@b commit -qm x", NESTED_REPO],
    ids=["with-a-commit", "without-a-commit"],  # git stages the first, refuses the second
)
def test_a_nested_git_repository_ends_the_run_refused_as_a_gitlink(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer], command: str
) -> None:
    message = _refused(tmp_path, served, [shell(command)])
    assert "rule: mode.gitlink" in message
    assert "vendor/lib" in message
    assert "nested git repository" in message
    assert not (tmp_path / "calc" / "vendor").exists()


# 5. Names some filesystem reads as .git.


@pytest.mark.parametrize("name", [".git.", "GIT~1", ".g\u200cit"], ids=["dot", "8.3", "hfs"])
def test_a_folder_a_filesystem_reads_as_dot_git_ends_the_run_refused(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer], name: str
) -> None:
    quoted = shlex.quote(name)
    command = (
        f"mkdir -p {quoted} && printf '[core]\\n\\thooksPath = /tmp/evil\\n' > {quoted}/config"
        f" && ls -a {quoted}"
    )
    message = _refused(tmp_path, served, [shell(command)])
    assert "rule: path.git_internals" in message
    assert "hooksPath" not in (tmp_path / "calc" / ".git" / "config").read_text()


# 6. A partial [policy] keeps the default protected paths; `unprotect` gives one up.


def test_a_partial_policy_table_keeps_the_default_protected_paths(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    extra = "\n[policy]\nmax_files = 50\n"
    message = _refused(tmp_path, served, [shell(EVIL_WORKFLOW)], extra)
    assert "rule: path.protected" in message
    assert ".github/workflows/evil.yml" in message


def test_unprotect_gives_up_exactly_the_named_default(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    extra = '\n[policy]\nmax_files = 50\nunprotect = [".github/workflows/**"]\n'
    project = Project.create(tmp_path, served(scripted([shell(EVIL_WORKFLOW), DEMO_EDIT])), extra)
    project.only_phase_1_1()
    end, run_dir = project.run()
    assert end.state is RunState.DONE_SUCCESS, end.message
    root = project.root
    assert _git(root, "show", f"autopack/{end.run_id}:.github/workflows/evil.yml") == "on: push"
    # Giving a default up is never silent: the run's summary and `autopack plan` both say so.
    summary = (run_dir / "RUN_SUMMARY.md").read_text()
    assert _lines_with(summary, "unprotect", "`.github/workflows/**`"), summary
    [protected] = _lines_with(summary, "Protected paths")
    assert ".github/workflows/**" not in protected
    assert "autopack.toml" in protected
    shown = CliRunner().invoke(app, ["plan", str(project.plan), "--repo", str(root)])
    assert shown.exit_code == 0, shown.output
    assert _lines_with(shown.output, "unprotect", ".github/workflows/**"), shown.output


def _lines_with(text: str, *parts: str) -> list[str]:
    return [line for line in text.splitlines() if all(part in line for part in parts)]


# 7. A name over the limits through the Builder's own edit tool.


def test_an_edit_creating_a_name_over_255_bytes_is_refused_to_the_builder_and_the_run_goes_on(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    long_name = "docs/" + "n" * 297 + ".md"  # a 300-byte file name
    create = {"op": "create", "path": long_name, "content": "too long\n"}
    requests: list[dict[str, Any]] = []
    steps = [ToolCall(name="edit", arguments={"edits": [create]}), DEMO_EDIT]
    project = Project.create(tmp_path, served(scripted(steps, requests)))
    project.only_phase_1_1()
    end, _ = project.run()
    assert end.state is RunState.DONE_SUCCESS, end.message
    after_edit = [r for r in requests if "# Phase 1.1:" in _task(r) and _answered(r) == 1]
    assert after_edit, "the Builder was never asked again after its edit"
    [result] = [m for m in after_edit[0]["messages"] if m["role"] == "tool"]
    assert "path.too_long" in str(result["content"])
    assert "over 255 bytes" in str(result["content"])  # the name rule, before any write is tried
    assert "n" * 297 not in "".join(_branch_files(project.root, end.run_id))


# 8. The sandbox shows commands neither the user's home nor the project's neighbours.


def test_a_builder_cannot_read_the_users_home_or_folders_beside_the_project(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    secret = f"canary-{uuid.uuid4().hex}"
    home_canary = Path.home() / f".autopack-test-canary-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    requests: list[dict[str, Any]] = []
    project = Project.create(
        tmp_path,
        served(
            scripted(
                [
                    shell(f"cat {shlex.quote(str(home_canary))}"),
                    shell(f"cat {shlex.quote(str(tmp_path / 'beside' / 'canary.txt'))}"),
                    DEMO_EDIT,
                ],
                requests,
            )
        ),
    )
    project.only_phase_1_1()
    (project.beside / "canary.txt").write_text(secret + "\n")
    home_canary.write_text(secret + "\n")
    try:
        end, run_dir = project.run()
    finally:
        home_canary.unlink()
    assert end.state is RunState.DONE_SUCCESS, end.message
    results = [
        str(m["content"])
        for r in requests
        if _answered(r) == 2 and "# Phase 1.1:" in _task(r)
        for m in r["messages"]
        if m["role"] == "tool"
    ]
    assert not [r for r in requests if secret in json.dumps(r)]
    # Both commands ran and failed to find their file: the test is not passing vacuously.
    assert len(results) == 2
    assert all("No such file or directory" in result for result in results), results
    # Nor anywhere the run keeps things: its artefacts, the database, the worktrees' folder.
    kept = [path for path in project.root.rglob("*") if path.is_file()]
    assert run_dir in [path.parent for path in kept]
    assert not [path for path in kept if secret.encode() in path.read_bytes()]
    assert any(run_dir.rglob("trajectory.json"))


# 9. Coverage data the tools leave behind stays out of the attempt.


def test_coverage_data_files_stay_out_of_the_integration_branch(
    tmp_path: Path, served: Callable[[Script], FakeLLMServer]
) -> None:
    command = (
        "printf 'SQLite format 3' > .coverage.host.1234.XyZ && cp .coverage.host.1234.XyZ .coverage"
    )
    project = Project.create(tmp_path, served(scripted([shell(command), DEMO_EDIT])))
    project.only_phase_1_1()
    end, run_dir = project.run()
    assert end.state is RunState.DONE_SUCCESS, end.message
    files = _branch_files(project.root, end.run_id)
    assert "tests/test_subtract.py" in files
    assert not [name for name in files if ".coverage" in name]
    assert ".coverage" not in (run_dir / "attempts" / "1.1-a1" / "diff.patch").read_text()
