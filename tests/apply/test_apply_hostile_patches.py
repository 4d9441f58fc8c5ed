"""Hostile patches: every one is refused with a named rule, and nothing anywhere is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.apply.formats.detect import parse_patch_text
from autopack.apply.formats.edits import parse_edits
from autopack.apply.governed import apply_governed
from autopack.apply.patch import ChangeKind, FileChange, Hunk, Patch
from autopack.apply.policy import WritePolicy
from autopack.errors import PatchApplyError, PatchFormatError, PolicyViolation
from autopack.testing.filesystem import snapshot


def create(path: str, content: str = "x\n", **fields: object) -> Patch:
    return Patch(
        changes=(
            FileChange.model_validate(
                {"path": path, "kind": ChangeKind.CREATE, "content": content, **fields}
            ),
        ),
        source_format="test",
    )


def edit(path: str, search: str, replace: str) -> Patch:
    return Patch(
        changes=(
            FileChange(
                path=path, kind=ChangeKind.EDIT, hunks=(Hunk(search=search, replace=replace),)
            ),
        ),
        source_format="test",
    )


def diff_creating(path: str) -> str:
    return f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+owned\n"


POLICY_CASES: list[tuple[str, Patch, str]] = [
    ("dotdot", create("../outside/evil.txt"), "path.traversal"),
    ("dotdot deep", create("src/../../outside/evil.txt"), "path.traversal"),
    ("dotdot at end", create("src/.."), "path.traversal"),
    ("absolute", create("/tmp/evil.txt"), "path.absolute"),
    ("absolute etc", create("/etc/passwd"), "path.absolute"),
    ("home", create("~/.bashrc"), "path.absolute"),
    ("windows drive", create("C:/evil.txt"), "path.absolute"),
    ("backslash traversal", create("..\\outside\\evil.txt"), "path.backslash"),
    ("git hooks", create(".git/hooks/pre-commit", "#!/bin/sh\ncurl evil\n"), "path.git_internals"),
    (
        "git config",
        edit(".git/config", "[core]\n", "[core]\nfsmonitor = evil\n"),
        "path.git_internals",
    ),
    ("git uppercase", create(".GIT/hooks/post-checkout"), "path.git_internals"),
    ("nested git", create("vendor/lib/.git/config"), "path.git_internals"),
    ("dot slash git", create("./.git/HEAD"), "path.git_internals"),
    ("empty path", create(""), "path.empty"),
    ("blank path", create("   "), "path.empty"),
    ("nul in path", create("src/a\x00.py"), "path.control_characters"),
    ("newline in path", create("src/a\n.py"), "path.control_characters"),
    ("just a dot", create("."), "path.outside_repo"),
    ("workflow", create(".github/workflows/ci.yml", "on: push\njobs: {}\n"), "path.protected"),
    ("new workflow", create(".github/workflows/evil.yml"), "path.protected"),
    ("autopack config", create("autopack.toml", "[ruleset]\n"), "path.protected"),
    ("autopack database", create(".autopack/autopack.db"), "path.protected"),
    ("run artefacts", create(".autonomous_runs/run-1/strategy.json"), "path.protected"),
    ("symlink creation", create("src/link", "/etc/passwd", mode="120000"), "mode.symlink"),
    ("binary content", create("src/blob.bin", "\x00\x01\x02"), "content.binary"),
    (
        "binary git patch",
        Patch(
            changes=(FileChange(path="img.png", kind=ChangeKind.EDIT, binary=True),),
            source_format="unified",
        ),
        "content.binary",
    ),
    ("empty patch", Patch(changes=(), source_format="test"), "patch.empty"),
    (
        "same file twice",
        Patch(
            changes=(create("src/x.py").changes[0], create("src/./x.py").changes[0]),
            source_format="test",
        ),
        "patch.conflicting",
    ),
    (
        "move onto protected",
        Patch(
            changes=(FileChange(path="src/app.py", kind=ChangeKind.EDIT, move_to="autopack.toml"),),
            source_format="codex",
        ),
        "path.protected",
    ),
    (
        "move outside",
        Patch(
            changes=(
                FileChange(path="src/app.py", kind=ChangeKind.EDIT, move_to="../outside/app.py"),
            ),
            source_format="codex",
        ),
        "path.traversal",
    ),
    (
        "edit without hunks",
        Patch(changes=(FileChange(path="src/app.py", kind=ChangeKind.EDIT),), source_format="test"),
        "patch.malformed",
    ),
    (
        "too many files",
        Patch(
            changes=tuple(create(f"src/f{i}.py").changes[0] for i in range(101)),
            source_format="test",
        ),
        "size.files",
    ),
    ("too many lines", create("src/big.py", "x\n" * 6000), "size.lines"),
    ("too many bytes", create("src/big.txt", "x" * 2_000_001), "size.bytes"),
]


@pytest.mark.parametrize(
    ("name", "patch", "rule"), POLICY_CASES, ids=[case[0] for case in POLICY_CASES]
)
def test_policy_refuses_and_writes_nothing(
    workspace: Path, policy: WritePolicy, name: str, patch: Patch, rule: str
) -> None:
    before = snapshot(workspace.parent)
    with pytest.raises(PolicyViolation) as caught:
        apply_governed(workspace, patch, policy)
    assert caught.value.rule == rule, name
    assert caught.value.path in str(caught.value)
    assert snapshot(workspace.parent) == before


def test_write_through_a_symlinked_directory_is_refused(
    workspace: Path, policy: WritePolicy
) -> None:
    (workspace / "escape").symlink_to(workspace.parent / "outside", target_is_directory=True)
    before = snapshot(workspace.parent)
    with pytest.raises(PolicyViolation) as caught:
        apply_governed(workspace, create("escape/secret.txt", "overwritten\n"), policy)
    assert caught.value.rule == "path.symlink"
    assert caught.value.path == "escape/secret.txt"
    assert caught.value.detail == "escape is a symlink; writes through symlinks are refused"
    assert snapshot(workspace.parent) == before


def test_edit_of_a_symlinked_file_is_refused(workspace: Path, policy: WritePolicy) -> None:
    (workspace / "src" / "linked.txt").symlink_to(workspace.parent / "outside" / "secret.txt")
    before = snapshot(workspace.parent)
    with pytest.raises(PolicyViolation) as caught:
        apply_governed(workspace, edit("src/linked.txt", "do not touch\n", "touched\n"), policy)
    assert caught.value.rule == "path.symlink"
    assert snapshot(workspace.parent) == before


def test_delete_of_a_symlink_is_refused(workspace: Path, policy: WritePolicy) -> None:
    (workspace / "src" / "linked.txt").symlink_to(workspace.parent / "outside" / "secret.txt")
    before = snapshot(workspace.parent)
    with pytest.raises(PolicyViolation):
        apply_governed(
            workspace,
            Patch(
                changes=(FileChange(path="src/linked.txt", kind=ChangeKind.DELETE),),
                source_format="t",
            ),
            policy,
        )
    assert snapshot(workspace.parent) == before


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("empty text", ""),
        ("prose", "I changed the greeting as requested."),
        ("codex without end", "*** Begin Patch\n*** Update File: src/app.py\n@@\n-a\n+b\n"),
        ("codex garbage", "*** Begin Patch\nhello\n*** End Patch"),
        ("search without divider", "src/app.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n"),
        ("search without path", "<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"),
        (
            "rename",
            "diff --git a/src/app.py b/src/evil.py\nsimilarity index 100%\nrename from src/app.py\nrename to src/evil.py\n",
        ),
        ("nul bytes", "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\x00\n+b\n"),
    ],
)
def test_malformed_patches_are_refused_before_anything_is_read(
    workspace: Path, name: str, text: str
) -> None:
    before = snapshot(workspace.parent)
    with pytest.raises(PatchFormatError):
        parse_patch_text(text)
    assert snapshot(workspace.parent) == before


def test_malformed_edits_are_refused() -> None:
    with pytest.raises(PatchFormatError, match="no edits"):
        parse_edits([])
    with pytest.raises(PatchFormatError):
        parse_edits([{"op": "chmod", "path": "x"}])


def test_traversal_inside_a_unified_diff_is_refused(workspace: Path, policy: WritePolicy) -> None:
    before = snapshot(workspace.parent)
    with pytest.raises(PolicyViolation) as caught:
        apply_governed(workspace, parse_patch_text(diff_creating("../outside/evil.txt")), policy)
    assert caught.value.rule == "path.traversal"
    assert snapshot(workspace.parent) == before


def test_one_bad_file_among_good_ones_writes_none_of_them(
    workspace: Path, policy: WritePolicy
) -> None:
    text = (
        "--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n def greet(name):\n-    return 'hello ' + name\n+    return 'hi ' + name\n"
        "--- /dev/null\n+++ b/src/new.py\n@@ -0,0 +1 @@\n+new = True\n"
        "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# Not the title\n+# App!\n"
    )
    before = snapshot(workspace.parent)
    with pytest.raises(PatchApplyError) as caught:
        apply_governed(workspace, parse_patch_text(text), policy)
    assert "README.md: hunk 1" in str(caught.value)
    assert snapshot(workspace.parent) == before


def test_conflicting_hunks_write_nothing(workspace: Path, policy: WritePolicy) -> None:
    patch = Patch(
        changes=(
            FileChange(
                path="src/app.py",
                kind=ChangeKind.EDIT,
                hunks=(
                    Hunk(
                        search="    return 'hello ' + name\n", replace="    return 'hi ' + name\n"
                    ),
                    Hunk(
                        search="    return 'hello ' + name\n", replace="    return 'hey ' + name\n"
                    ),
                ),
            ),
        ),
        source_format="test",
    )
    before = snapshot(workspace.parent)
    with pytest.raises(PatchApplyError, match="hunk 2"):
        apply_governed(workspace, patch, policy)
    assert snapshot(workspace.parent) == before


def test_failure_while_writing_restores_every_file(workspace: Path, policy: WritePolicy) -> None:
    """The second write fails (its parent is a file) after the first succeeded; the first is undone."""
    patch = Patch(
        changes=(
            FileChange(
                path="README.md",
                kind=ChangeKind.EDIT,
                hunks=(Hunk(search="# App\n", replace="# Changed\n"),),
            ),
            FileChange(path="src/new_dir/module.py", kind=ChangeKind.CREATE, content="x = 1\n"),
            FileChange(path="src/app.py/inside.py", kind=ChangeKind.CREATE, content="x = 1\n"),
        ),
        source_format="test",
    )
    before = snapshot(workspace.parent)
    with pytest.raises(PatchApplyError) as caught:
        apply_governed(workspace, patch, policy)
    assert caught.value.rule == "apply.write_failed"
    assert "src/app.py/inside.py" in str(caught.value)
    assert snapshot(workspace.parent) == before


def test_a_violation_becomes_a_major_policy_issue(workspace: Path, policy: WritePolicy) -> None:
    from autopack.apply.findings import policy_issue
    from autopack.domain.vocabulary import Severity

    with pytest.raises(PolicyViolation) as caught:
        apply_governed(workspace, create(".git/hooks/pre-commit"), policy)
    issue = policy_issue(caught.value, "run-1")
    assert issue.issue_key == "policy:path.git_internals:.git/hooks/pre-commit"
    assert (issue.severity, issue.category) == (Severity.MAJOR, "policy")
    assert "nothing under .git" in issue.summary
