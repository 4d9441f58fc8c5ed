"""The hostile suite of the governed write path: every case through all three doors.

Each case is tried as the Supervisor's gate meets it (files an agent made in its attempt worktree,
staged by git and judged on git's entries), as the patch engine meets it (a patch text or edits)
and as the Builder's edit tool meets it. Each must be refused with its named rule, and nothing may
change anywhere: the integration worktree and index, the user's tree and index, refs, the objects
reachable from refs, a folder beside the repository, and the attempt worktree for engine and tool.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from autopack.apply.formats.detect import parse_patch_text
from autopack.apply.formats.edits import parse_edits
from autopack.apply.governed import apply_governed
from autopack.apply.policy import WritePolicy
from autopack.builder.tools import ToolRefused, WorktreeTools
from autopack.errors import PatchApplyError, PolicyViolation
from autopack.testing.filesystem import snapshot
from autopack.testing.gate import integrate_attempt
from autopack.testing.git_repos import git
from autopack.verify.bubblewrap import NoSandbox
from autopack.workspace.base import Worktree
from autopack.workspace.git_cli import GitCli

DEFAULT = WritePolicy()
RUN = "run-1"


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # the class of hole in the issue it stands for
    rule: str
    # Shell run in the attempt worktree, as the Builder's run_command would: the gate's door.
    shell: str | None = None
    # Patch text (any format) for the engine; edits for the tool.
    patch: str | None = None
    edits: list[dict[str, object]] | None = None
    policy: WritePolicy = DEFAULT
    hostile_config: bool = False


def _create(path: str, content: str = "x\n") -> list[dict[str, object]]:
    return [{"op": "create", "path": path, "content": content}]


def _new_file_diff(path: str, mode: str = "100644", body: str = "+x\n") -> str:
    return (
        f'diff --git "a/{path}" "b/{path}"\nnew file mode {mode}\n'
        f'--- /dev/null\n+++ "b/{path}"\n@@ -0,0 +1 @@\n{body}'
    )


def _symlink_diff(path: str, target: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 120000\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
    )


def _gitlink_diff(path: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 160000\nindex 0000000..{'a' * 40}\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+Subproject commit {'a' * 40}\n"
    )


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _make_file(path: str, content: str = "x\n") -> str:
    folder = os.path.dirname(path)
    make = f"mkdir -p {_shell_quote(folder)} && " if folder else ""
    return f"{make}printf %s {_shell_quote(content)} > {_shell_quote(path)}"


def _git_spelling(spelling: str) -> Case:
    return Case(
        f"git spelling {spelling!r}",
        "git_names",
        "path.git_internals",
        shell=_make_file(f"{spelling}/config", "[core]\n\tfsmonitor = evil\n"),
        patch=_new_file_diff(f"{spelling}/config"),
        edits=_create(f"{spelling}/config", "[core]\n"),
    )


def _gitmodules_spelling(spelling: str) -> Case:
    content = '[submodule "x"]\n\tpath = x\n\turl = ../../outside\n'
    return Case(
        f"gitmodules spelling {spelling!r}",
        "git_names",
        "path.git_internals",
        shell=_make_file(spelling, content),
        patch=_new_file_diff(spelling),
        edits=_create(spelling, content),
    )


NESTED_REPO = (
    "mkdir -p {0} && cd {0} && git init -q && echo x > f && git add f && "
    "git -c user.name=a -c user.email=a@b -c commit.gpgsign=false commit -qm x"
)
GIT_SPELLINGS = [
    ".git.",
    ".git..",
    ".git ",
    ".git. .",
    ".GIT",
    ".Git",
    "GIT~1",
    "git~2",
    ".git::$INDEX_ALLOCATION",
    ".git:stream",
    ".g\u200cit",
    ".gi\u200dt",
    "\ufeff.git",
    ".git\u200e",
    "vendor/.git.",
    "deep/er/GIT~1",
]
GITMODULES_SPELLINGS = [
    ".gitmodules",
    ".GITMODULES",
    ".gitmodules.",
    ".gitmodules ",
    "gi7eab~1",
    "gitmod~1",
    ".git\u200cmodules",
]

CASES: list[Case] = [
    # Names with spaces, tabs and quotes carrying modes, symlinks or protected paths.
    Case(
        "symlink with a space out of the repo",
        "names",
        "mode.symlink",
        shell="mkdir -p docs && ln -s /etc/passwd 'docs/my link'",
        patch=_symlink_diff("docs/my link", "/etc/passwd"),
    ),
    Case(
        "symlink with spaces to a sibling",
        "names",
        "mode.symlink",
        shell="mkdir -p 'a b' && ln -s ../../../outside/secret.txt 'a b/c d'",
        patch=_symlink_diff("a b/c d", "../../../outside/secret.txt"),
    ),
    Case(
        "workflow name with a space",
        "names",
        "path.protected",
        shell=_make_file(".github/workflows/ci 2.yml", "on: push\n"),
        patch=_new_file_diff(".github/workflows/ci 2.yml"),
        edits=_create(".github/workflows/ci 2.yml", "on: push\n"),
    ),
    Case(
        "workflow name with quotes",
        "names",
        "path.protected",
        shell=_make_file('.github/workflows/"q".yml', "on: push\n"),
        patch=_new_file_diff('.github/workflows/\\"q\\".yml'),
        edits=_create('.github/workflows/"q".yml'),
    ),
    Case(
        "tab in a name",
        "names",
        "path.control_characters",
        shell=_make_file("src/a\tb.py"),
        patch=_new_file_diff("src/a\\tb.py"),
        edits=_create("src/a\tb.py"),
    ),
    Case(
        "binary file with a space",
        "names",
        "content.binary",
        shell="printf 'a\\000b' > 'img one.bin'",
        patch="diff --git a/img one.bin b/img one.bin\nnew file mode 100644\nBinary files /dev/null and b/img one.bin differ\n",
        edits=_create("img one.bin", "a\x00b"),
    ),
    Case(
        "gitlab ci with a space in the folder before",
        "names",
        "path.protected",
        shell=_make_file("a b/x.txt") + " && " + _make_file(".gitlab-ci.yml", "job: {}\n"),
        patch=_new_file_diff("a b/x.txt") + _new_file_diff(".gitlab-ci.yml"),
        edits=[*_create("a b/x.txt"), *_create(".gitlab-ci.yml")],
    ),
    Case(
        "executable workflow with a space",
        "names",
        "path.protected",
        shell=_make_file(".circleci/run me.sh") + " && chmod +x '.circleci/run me.sh'",
        patch=_new_file_diff(".circleci/run me.sh", "100755"),
        edits=_create(".circleci/run me.sh"),
    ),
    # Text that looks like patch structure to a parser splitting lines where git does not.
    Case(
        "form feed hides a workflow header",
        "line_splitting",
        "path.protected",
        shell=_make_file(
            ".github/workflows/ff.yml", "x\x0cdiff --git a/ok.txt b/ok.txt\n@@ -0,0 +1 @@\n"
        ),
        patch=_new_file_diff(".github/workflows/ff.yml", body="+x\x0c@@ -1 +1 @@\n"),
        edits=_create(".github/workflows/ff.yml", "x\x0c+++ b/ok.txt\n"),
    ),
    Case(
        "vertical tab and U+2028 in a binary file",
        "line_splitting",
        "content.binary",
        shell="printf 'a\\013b\\342\\200\\250c\\000' > blob.dat",
        edits=_create("blob.dat", "a\x0bb\u2028c\x00"),
    ),
    Case(
        "unicode line separator before a symlink header",
        "line_splitting",
        "mode.symlink",
        shell="ln -s ../../.. 'up\u2028new file mode 100644'",
        patch=_symlink_diff("up", "../../.."),
    ),
    # Modes: gitlinks, symlinks, odd modes.
    Case(
        "nested repository",
        "modes",
        "mode.gitlink",
        shell=NESTED_REPO.format("vendor/lib"),
        patch=_gitlink_diff("vendor/lib"),
    ),
    Case(
        "nested repository at the top",
        "modes",
        "mode.gitlink",
        shell=NESTED_REPO.format("sub"),
        patch=_gitlink_diff("sub"),
    ),
    Case(
        "absolute symlink",
        "modes",
        "mode.symlink",
        shell="ln -s /root/.ssh/id_rsa key",
        patch=_symlink_diff("key", "/root/.ssh/id_rsa"),
    ),
    Case(
        "relative symlink inside, not allowed",
        "modes",
        "mode.symlink",
        shell="ln -s src/app.py alias.py",
        patch=_symlink_diff("alias.py", "src/app.py"),
    ),
    Case(
        "allowed symlink escaping the repo",
        "modes",
        "mode.symlink",
        shell="mkdir -p links && ln -s ../../outside links/out",
        patch=_symlink_diff("links/out", "../../outside"),
        policy=WritePolicy(symlinks=("links/*",)),
    ),
    Case(
        "allowed symlink into .git",
        "modes",
        "mode.symlink",
        shell="mkdir -p links && ln -s ../.git/config links/cfg",
        patch=_symlink_diff("links/cfg", "../.git/config"),
        policy=WritePolicy(symlinks=("links/*",)),
    ),
    Case(
        "symlink replacing a file",
        "modes",
        "mode.symlink",
        shell="rm README.md && ln -s /etc/shadow README.md",
        patch=(
            "diff --git a/README.md b/README.md\nold mode 100644\nnew mode 120000\n"
            "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# App\n+/etc/shadow\n"
        ),
    ),
    Case(
        "setuid mode line",
        "modes",
        "mode.unsupported",
        patch=_new_file_diff("tool.sh", "104755"),
    ),
    Case(
        "directory mode line",
        "modes",
        "mode.unsupported",
        patch=_new_file_diff("thing", "040000"),
    ),
    Case(
        "dangling symlink",
        "modes",
        "mode.symlink",
        shell="ln -s nowhere dangling",
        patch=_symlink_diff("dangling", "nowhere"),
    ),
    Case(
        "symlink to the root",
        "modes",
        "mode.symlink",
        shell="ln -s / root",
        patch=_symlink_diff("root", "/"),
    ),
    Case(
        "nested repository deep in fixtures",
        "modes",
        "mode.gitlink",
        shell=NESTED_REPO.format("tests/fixtures/repo"),
        patch=_gitlink_diff("tests/fixtures/repo"),
    ),
    Case(
        "nested repository without a commit",
        "modes",
        "mode.gitlink",
        shell="mkdir -p sub && cd sub && git init -q && echo x > f",
    ),
    Case(
        "git folder deep in a path",
        "git_names",
        "path.git_internals",
        shell=_make_file("a/.GIT/b/c"),
        patch=_new_file_diff("a/.GIT/b/c"),
        edits=_create("a/.GIT/b/c"),
    ),
    Case(
        "git folder with dot and case deep in a path",
        "git_names",
        "path.git_internals",
        shell=_make_file("x/.Git./y"),
        patch=_new_file_diff("x/.Git./y"),
        edits=_create("x/.Git./y"),
    ),
    # Every spelling NTFS or HFS+ reads as .git or .gitmodules.
    *[_git_spelling(spelling) for spelling in GIT_SPELLINGS],
    *[_gitmodules_spelling(spelling) for spelling in GITMODULES_SPELLINGS],
    # A partial [policy] keeps the default protected paths; globs match folded spellings.
    Case(
        "max_files set, workflow still protected",
        "partial_policy",
        "path.protected",
        shell=_make_file(".github/workflows/evil.yml", "on: push\n"),
        patch=_new_file_diff(".github/workflows/evil.yml"),
        edits=_create(".github/workflows/evil.yml"),
        policy=WritePolicy(max_files=50),
    ),
    Case(
        "own globs added, defaults kept",
        "partial_policy",
        "path.protected",
        shell=_make_file("autopack.toml", "[policy]\n"),
        patch=_new_file_diff("autopack.toml"),
        edits=_create("autopack.toml", "[policy]\n"),
        policy=WritePolicy(protected_paths=("docs/**",)),
    ),
    Case(
        "own glob enforced",
        "partial_policy",
        "path.protected",
        shell=_make_file("docs/x.md"),
        patch=_new_file_diff("docs/x.md"),
        edits=_create("docs/x.md"),
        policy=WritePolicy(protected_paths=("docs/**",)),
    ),
    Case(
        "one default given up, the others kept",
        "partial_policy",
        "path.protected",
        shell=_make_file(".circleci/config.yml"),
        patch=_new_file_diff(".circleci/config.yml"),
        edits=_create(".circleci/config.yml"),
        policy=WritePolicy(unprotect=(".github/workflows/**",)),
    ),
    Case(
        "workflow in another case",
        "partial_policy",
        "path.protected",
        shell=_make_file(".GitHub/Workflows/ci.yml"),
        patch=_new_file_diff(".GitHub/Workflows/ci.yml"),
        edits=_create(".GitHub/Workflows/ci.yml"),
    ),
    Case(
        "workflow folder with a trailing dot",
        "partial_policy",
        "path.protected",
        shell=_make_file(".github/workflows./ci.yml"),
        patch=_new_file_diff(".github/workflows./ci.yml"),
        edits=_create(".github/workflows./ci.yml"),
    ),
    Case(
        "config in capitals",
        "partial_policy",
        "path.protected",
        shell=_make_file("AUTOPACK.TOML"),
        patch=_new_file_diff("AUTOPACK.TOML"),
        edits=_create("AUTOPACK.TOML"),
    ),
    Case(
        "run folder with a trailing space",
        "partial_policy",
        "path.protected",
        shell=_make_file(".autonomous_runs /r/strategy.json"),
        patch=_new_file_diff(".autonomous_runs /r/strategy.json"),
        edits=_create(".autonomous_runs /r/strategy.json"),
    ),
    Case(
        "zero-width joiner in the workflow folder",
        "partial_policy",
        "path.protected",
        shell=_make_file(".github/work\u200dflows/ci.yml"),
        patch=_new_file_diff(".github/work\u200dflows/ci.yml"),
        edits=_create(".github/work\u200dflows/ci.yml"),
    ),
    Case(
        "workflow edited",
        "partial_policy",
        "path.protected",
        shell="echo 'jobs: {}' >> .github/workflows/ci.yml",
        patch="--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n@@ -1 +1,2 @@\n on: push\n+jobs: {}\n",
        edits=[
            {
                "op": "str_replace",
                "path": ".github/workflows/ci.yml",
                "old": "on: push",
                "new": "on: pr",
            }
        ],
    ),
    Case(
        "workflow deleted",
        "partial_policy",
        "path.protected",
        shell="rm .github/workflows/ci.yml",
        patch="--- a/.github/workflows/ci.yml\n+++ /dev/null\n@@ -1 +0,0 @@\n-on: push\n",
        edits=[{"op": "delete", "path": ".github/workflows/ci.yml"}],
        policy=WritePolicy(max_changed_lines=100),
    ),
    Case(
        "workflow moved out",
        "partial_policy",
        "path.protected",
        shell="mv .github/workflows/ci.yml ci.yml",
        patch="*** Begin Patch\n*** Update File: .github/workflows/ci.yml\n*** Move to: ci.yml\n@@\n-on: push\n+on: pull_request\n*** End Patch\n",
    ),
    Case(
        "code moved into the workflows",
        "partial_policy",
        "path.protected",
        shell="mv src/app.py .github/workflows/app.yml",
        patch="*** Begin Patch\n*** Update File: src/app.py\n*** Move to: .github/workflows/app.yml\n@@\n-def greet(name):\n+def greet(who):\n*** End Patch\n",
    ),
    Case(
        "workflow turned into a symlink",
        "partial_policy",
        "path.protected",
        shell="rm .github/workflows/ci.yml && ln -s /etc/passwd .github/workflows/ci.yml",
    ),
    Case(
        "too many files",
        "limits",
        "size.files",
        shell="mkdir many && for i in $(seq 1 101); do echo $i > many/f$i; done",
        edits=[item for i in range(101) for item in _create(f"many/f{i}")],
    ),
    Case(
        "too many lines",
        "limits",
        "size.lines",
        shell="seq 1 6000 > big.txt",
        edits=_create("big.txt", "x\n" * 6000),
    ),
    Case(
        "too many bytes",
        "limits",
        "size.bytes",
        shell="head -c 2000001 /dev/zero | tr '\\0' 'x' > big.txt",
        edits=_create("big.txt", "x" * 2_000_001),
    ),
    Case(
        "binary content edited into a text file",
        "limits",
        "content.binary",
        shell="printf 'a\\000' >> README.md",
        edits=[{"op": "str_replace", "path": "README.md", "old": "# App", "new": "# A\x00pp"}],
    ),
    # Control characters and names over the limits: refused by rule, never by an exception.
    Case(
        "escape sequence in a name",
        "limits",
        "path.control_characters",
        shell=_make_file("src/\x1b[31mred.py"),
        edits=_create("src/\x1b[31mred.py"),
    ),
    Case(
        "DEL in a name",
        "limits",
        "path.control_characters",
        shell=_make_file("src/a\x7fb.py"),
        patch=_new_file_diff("src/a\\177b.py"),
        edits=_create("src/a\x7fb.py"),
    ),
    Case(
        "C1 next-line in a name",
        "limits",
        "path.control_characters",
        shell=_make_file("src/a\u0085b.py"),
        edits=_create("src/a\u0085b.py"),
    ),
    Case("name of 256 bytes", "limits", "path.too_long", edits=_create("a" * 256)),
    Case(
        "name of 86 three-byte letters",
        "limits",
        "path.too_long",
        edits=_create("\u6f22" * 86 + ".py"),
    ),
    Case(
        "path of 4,097 bytes",
        "limits",
        "path.too_long",
        edits=_create("/".join(["d" * 200] * 20) + "/" + "f" * 96),
    ),
    Case(
        "path of 4,097 bytes in a diff",
        "limits",
        "path.too_long",
        patch=_new_file_diff("/".join(["d" * 200] * 20) + "/" + "f" * 96),
    ),
    # Failures while writing and edits that do not hold are refusals too.
    Case(
        "parent is a file",
        "write_failures",
        "apply.write_failed",
        edits=[*_create("src/fine.py"), *_create("src/app.py/inside.py")],
    ),
    Case(
        "delete a file that does not exist",
        "write_failures",
        "apply.missing_file",
        edits=[{"op": "delete", "path": "src/ghost.py"}],
        patch="--- a/src/ghost.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n",
    ),
    Case(
        "str_replace whose old text is absent but new text present",
        "write_failures",
        "apply.no_match",
        edits=[{"op": "str_replace", "path": "src/app.py", "old": "goodbye", "new": "hello"}],
    ),
    Case(
        "create over an existing file",
        "write_failures",
        "apply.exists",
        edits=_create("README.md", "# Another\n"),
    ),
    # The same holes, with a user configuration that changes what git prints.
    *[
        Case(
            f"hostile config: {case_name}",
            "user_config",
            rule,
            shell=shell,
            patch=patch,
            edits=edits,
            hostile_config=True,
        )
        for case_name, rule, shell, patch, edits in [
            (
                "workflow",
                "path.protected",
                _make_file(".github/workflows/evil.yml", "on: push\n"),
                _new_file_diff(".github/workflows/evil.yml"),
                _create(".github/workflows/evil.yml"),
            ),
            (
                "nested repository",
                "mode.gitlink",
                NESTED_REPO.format("vendor/lib"),
                _gitlink_diff("vendor/lib"),
                None,
            ),
            (
                "symlink with a space",
                "mode.symlink",
                "ln -s /etc/passwd 'my link'",
                _symlink_diff("my link", "/etc/passwd"),
                None,
            ),
            (
                "git spelling",
                "path.git_internals",
                _make_file(".git./config"),
                _new_file_diff(".git./config"),
                _create(".git./config"),
            ),
            (
                "quoted name of a protected file",
                "path.protected",
                _make_file("autopack.toml", "[x]\n"),
                _new_file_diff("autopack.toml"),
                _create("autopack.toml"),
            ),
        ]
    ],
]

HOSTILE_GITCONFIG = """\
[diff]
\tnoprefix = true
\tmnemonicPrefix = true
\tcontext = 0
\texternal = /bin/false
\trelative = true
[color]
\tui = always
\tdiff = always
[core]
\tquotePath = false
\tprotectNTFS = false
\tprotectHFS = false
[apply]
\twhitespace = error
"""


@pytest.fixture
def repo(scratch: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    case: Case = request.param
    if case.hostile_config:
        home = scratch / "home"
        home.mkdir()
        (home / ".gitconfig").write_text(HOSTILE_GITCONFIG)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    root = scratch / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("def greet(name):\n    return 'hello ' + name\n")
    (root / "README.md").write_text("# App\n")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-qm", "initial")
    outside = scratch / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not touch\n")
    return root


def _state(root: Path, integration: Path, skip: Path | None) -> dict[str, object]:
    """Everything the write path must leave alone, as files and as git reports it."""

    def files(folder: Path) -> dict[str, str]:
        found = snapshot(folder)
        ignored = (".git/objects", ".git/worktrees", ".git/logs")
        skipped = str(skip.relative_to(folder)) if skip and skip.is_relative_to(folder) else None
        return {
            key: value
            for key, value in found.items()
            if not key.startswith(ignored) and not (skipped and key.startswith(skipped))
        }

    return {
        "repo files": files(root),
        "beside": snapshot(root.parent / "outside"),
        "refs": git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "reachable": git(root, "rev-list", "--objects", "--all"),
        "index": git(root, "ls-files", "-s", "--debug"),
        "integration index": git(integration, "ls-files", "-s"),
        "integration status": git(integration, "status", "--porcelain", "--ignored"),
        "integration head": git(integration, "rev-parse", "HEAD"),
    }


def _setup(root: Path) -> tuple[GitCli, Worktree, Worktree]:
    adapter = GitCli(root, root / ".autopack" / "worktrees")
    adapter.ensure_integration_branch(RUN, "main")
    integration = adapter.integration_worktree(RUN)
    attempt = adapter.create_attempt_worktree(RUN, "p1-a1")
    return adapter, integration, attempt


def _ids(cases: list[Case]) -> list[str]:
    return [case.name.encode("ascii", "backslashreplace").decode() for case in cases]


GATE = [case for case in CASES if case.shell is not None]
ENGINE = [case for case in CASES if case.patch is not None or case.edits is not None]
TOOL = [case for case in CASES if case.edits is not None]


def test_the_suite_covers_every_class_through_every_door() -> None:
    assert len(CASES) >= 80
    classes = {case.kind for case in CASES}
    assert classes == {
        "names",
        "line_splitting",
        "modes",
        "git_names",
        "partial_policy",
        "limits",
        "write_failures",
        "user_config",
    }
    for kind in classes - {"write_failures"}:
        assert any(case.kind == kind for case in GATE), kind
    for kind in classes:
        assert any(case.kind == kind for case in ENGINE), kind
    # The edit tool cannot express modes; every other class reaches it.
    for kind in classes - {"modes"}:
        assert any(case.kind == kind for case in TOOL), kind


@pytest.mark.parametrize(
    ("repo", "case"), [(c, c) for c in GATE], ids=_ids(GATE), indirect=["repo"]
)
def test_the_gate_refuses_what_the_agent_made_and_lands_nothing(repo: Path, case: Case) -> None:
    adapter, integration, attempt = _setup(repo)
    made = subprocess.run(
        ["sh", "-c", case.shell or ""], cwd=attempt.path, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    before = _state(repo, integration.path, attempt.path)
    with pytest.raises(PolicyViolation) as caught:
        integrate_attempt(adapter, RUN, attempt, case.policy)
    assert caught.value.rule == case.rule, str(caught.value)
    assert isinstance(caught.value.path, str)
    assert str(caught.value).startswith(f"{caught.value.path}: {caught.value.detail}")
    assert _state(repo, integration.path, attempt.path) == before


@pytest.mark.parametrize(
    ("repo", "case"), [(c, c) for c in ENGINE], ids=_ids(ENGINE), indirect=["repo"]
)
def test_the_engine_refuses_and_writes_nothing(repo: Path, case: Case) -> None:
    _adapter, integration, attempt = _setup(repo)
    before = _state(repo, integration.path, None)
    patch = (
        parse_patch_text(case.patch) if case.patch is not None else parse_edits(case.edits or [])
    )
    with pytest.raises((PolicyViolation, PatchApplyError)) as caught:
        apply_governed(attempt.path, patch, case.policy)
    assert caught.value.rule == case.rule, str(caught.value)
    if isinstance(caught.value, PolicyViolation):
        assert isinstance(caught.value.path, str)
        assert str(caught.value).startswith(f"{caught.value.path}: {caught.value.detail}")
    assert _state(repo, integration.path, None) == before


@pytest.mark.parametrize(
    ("repo", "case"), [(c, c) for c in TOOL], ids=_ids(TOOL), indirect=["repo"]
)
def test_the_edit_tool_tells_the_model_the_rule_and_writes_nothing(repo: Path, case: Case) -> None:
    _adapter, integration, attempt = _setup(repo)
    tools = WorktreeTools(root=attempt.path, sandbox=NoSandbox(), policy=case.policy)
    before = _state(repo, integration.path, None)
    with pytest.raises(ToolRefused) as caught:
        tools.edit(json.loads(json.dumps(case.edits)))
    assert f"rule: {case.rule}" in str(caught.value)
    assert "nothing changed" in str(caught.value)
    assert _state(repo, integration.path, None) == before


ACCEPTED: list[tuple[str, str, dict[str, str]]] = [
    (
        "form feed and fake headers in an ordinary file",
        _make_file(
            "notes.txt", "a\x0cdiff --git a/.github/workflows/x.yml b/x\nnew file mode 120000\n"
        ),
        {"notes.txt": "100644"},
    ),
    (
        "U+2028 and vertical tab in text",
        _make_file("doc.md", "line\u2028@@ -1 +1 @@\x0b--- a/autopack.toml\n"),
        {"doc.md": "100644"},
    ),
    ("a name with spaces and quotes", _make_file('a b/"c" d.txt'), {'a b/"c" d.txt': "100644"}),
    (
        "setuid becomes a plain executable",
        _make_file("run.sh", "#!/bin/sh\n") + " && chmod 4755 run.sh",
        {"run.sh": "100755"},
    ),
    (
        "coverage data stays out",
        _make_file(".coverage.host.1234.XyZ", "data") + " && " + _make_file("src/new.py"),
        {"src/new.py": "100644"},
    ),
]


@pytest.mark.parametrize(
    ("repo", "shell", "expected"),
    [(Case("accepted", "accepted", ""), shell, expected) for _, shell, expected in ACCEPTED],
    ids=[name for name, _, _ in ACCEPTED],
    indirect=["repo"],
)
def test_harmless_attempts_land_exactly_what_git_staged(
    repo: Path, shell: str, expected: dict[str, str]
) -> None:
    adapter, integration, attempt = _setup(repo)
    subprocess.run(["sh", "-c", shell], cwd=attempt.path, check=True)
    assert integrate_attempt(adapter, RUN, attempt, DEFAULT).applied
    staged = git(integration.path, "diff", "--cached", "--raw", "-z", "--no-renames", "HEAD")
    fields = staged.split("\0")
    landed = {fields[i + 1]: fields[i].split()[1] for i in range(0, len(fields) - 1, 2)}
    assert landed == expected
    for path in expected:
        assert (integration.path / path).read_bytes() == (attempt.path / path).read_bytes()
        mode = (integration.path / path).stat().st_mode
        assert not mode & 0o7000


def test_a_symlink_a_rule_allows_inside_the_repo_lands(repo: Path) -> None:
    adapter, integration, attempt = _setup(repo)
    (attempt.path / "links").mkdir()
    (attempt.path / "links" / "app.py").symlink_to("../src/app.py")
    policy = WritePolicy(symlinks=("links/*",))
    assert integrate_attempt(adapter, RUN, attempt, policy).applied
    assert os.readlink(integration.path / "links" / "app.py") == "../src/app.py"


test_a_symlink_a_rule_allows_inside_the_repo_lands = pytest.mark.parametrize(
    "repo", [Case("symlink", "accepted", "")], indirect=True
)(test_a_symlink_a_rule_allows_inside_the_repo_lands)


@pytest.mark.parametrize("repo", [Case("redirect", "accepted", "")], indirect=True)
def test_an_agent_redirecting_its_worktree_git_file_stages_nothing_elsewhere(repo: Path) -> None:
    """Overwriting the worktree's `.git` file cannot make staging act on the user's repository."""
    adapter, integration, attempt = _setup(repo)
    user_index = git(repo, "ls-files", "-s", "--debug")
    user_status = git(repo, "status", "--porcelain")
    (attempt.path / ".git").write_text(f"gitdir: {repo / '.git'}\n")
    (attempt.path / "src" / "new.py").write_text("NEW = 1\n")
    assert integrate_attempt(adapter, RUN, attempt, DEFAULT).applied
    assert git(repo, "ls-files", "-s", "--debug") == user_index
    assert git(repo, "status", "--porcelain") == user_status
    landed = git(integration.path, "diff", "--cached", "--name-only", "HEAD").split()
    assert landed == ["src/new.py"]
