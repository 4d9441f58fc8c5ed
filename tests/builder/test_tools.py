"""The Builder's actions on a real worktree: reading windows, searching, governed edits, sandboxed commands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.builder.conftest import CALC

from autopack.apply.policy import WritePolicy
from autopack.builder.tools import MAX_OBSERVATION_CHARS, ToolRefused, WorktreeTools, clip
from autopack.testing.filesystem import snapshot
from autopack.verify.base import Limits
from autopack.verify.bubblewrap import BubblewrapSandbox, NoSandbox
from autopack.workspace.base import Worktree
from autopack.workspace.diffs import changed_paths, worktree_diff


@pytest.fixture
def tools(attempt_worktree: Worktree) -> WorktreeTools:
    return WorktreeTools(
        root=attempt_worktree.path,
        sandbox=NoSandbox(),
        policy=WritePolicy(protected_paths=("README.md",)),
    )


def test_read_file_shows_numbered_lines_in_a_window(tools: WorktreeTools) -> None:
    window = tools.read_file("calc.py", 4, 6)
    assert window.splitlines() == [
        "    4│",
        "    5│def sub(a, b):",
        "    6│    return a - b",
        "(calc.py: lines 4-6 of 6)",
    ]
    assert tools.read_file("calc.py", 50) == "calc.py has 6 lines; nothing from line 50"


def test_a_read_without_a_range_gets_a_window_and_says_where_to_read_on(
    tools: WorktreeTools,
) -> None:
    (tools.root / "long.py").write_text("".join(f"x{n} = {n}\n" for n in range(1, 501)))
    first = tools.read_file("long.py").splitlines()
    assert len(first) == 200 + 1
    assert first[-1] == "(long.py: lines 1-200 of 500; read on with start_line=201)"
    ranged = tools.read_file("long.py", 101, 600).splitlines()
    assert ranged[0] == "  101│x101 = 101"
    assert ranged[-1] == "(long.py: lines 101-500 of 500)"  # a range may ask for up to 400
    assert (
        tools.read_file("long.py", 1, 450)
        .splitlines()[-1]
        .endswith("lines 1-400 of 500; read on with start_line=401)")
    )


def test_a_window_stops_short_of_the_observation_bound_on_long_lines(
    tools: WorktreeTools,
) -> None:
    (tools.root / "wide.txt").write_text("".join("y" * 1_000 + "\n" for _ in range(100)))
    window = tools.read_file("wide.txt")
    assert len(window) <= MAX_OBSERVATION_CHARS + 100
    assert window.splitlines()[-1] == "(wide.txt: lines 1-11 of 100; read on with start_line=12)"
    (tools.root / "one.txt").write_text("z" * 50_000)
    assert len(tools.read_file("one.txt")) <= MAX_OBSERVATION_CHARS + 100


@pytest.mark.parametrize(
    "path", ["../outside.txt", "/etc/passwd", ".git/config", "missing.py", "sub/../../x"]
)
def test_reads_outside_the_worktree_or_of_missing_files_are_refused(
    tools: WorktreeTools, path: str
) -> None:
    with pytest.raises(ToolRefused):
        tools.read_file(path)


def test_a_symlink_out_of_the_worktree_is_not_followed(tools: WorktreeTools) -> None:
    (tools.root / "escape").symlink_to("/etc")
    with pytest.raises(ToolRefused, match="outside the worktree"):
        tools.read_file("escape/hostname")


def test_list_and_search(tools: WorktreeTools) -> None:
    assert tools.list_files().splitlines() == ["README.md", "calc.py", "test_calc.py"]
    assert tools.list_files(pattern="test_*.py") == "test_calc.py"
    hits = tools.search_text("return a - b").splitlines()
    assert hits == ["calc.py:2: return a - b", "calc.py:6: return a - b"]
    assert tools.search_text(r"def \w+\(a", regex=True).count("calc.py") == 2
    assert tools.search_text("nothing like this") == "(no matches)"
    with pytest.raises(ToolRefused, match="regular expression"):
        tools.search_text("(", regex=True)
    symbols = tools.search_symbols("add").splitlines()
    assert symbols[0] == "calc.py:1: def function add"
    assert "test_calc.py:5: ref call add" in symbols


def test_edits_apply_through_the_governed_engine(tools: WorktreeTools) -> None:
    result = tools.edit(
        [
            {
                "op": "str_replace",
                "path": "calc.py",
                "old": "    return a - b\n\n\ndef sub",
                "new": "    return a + b\n\n\ndef sub",
            },
            {"op": "create", "path": "pkg/new.py", "content": "VALUE = 1\n"},
        ]
    )
    assert result == "applied: calc.py, pkg/new.py"
    assert (tools.root / "calc.py").read_text().startswith("def add(a, b):\n    return a + b\n")
    assert (tools.root / "pkg/new.py").read_text() == "VALUE = 1\n"


def test_insert_adds_text_after_a_line(tools: WorktreeTools) -> None:
    tools.edit([{"op": "insert", "path": "calc.py", "line": 0, "text": '"""Calculator."""'}])
    tools.edit([{"op": "insert", "path": "calc.py", "line": 3, "text": "    # fixed below\n"}])
    lines = (tools.root / "calc.py").read_text().splitlines()
    assert lines[:4] == [
        '"""Calculator."""',
        "def add(a, b):",
        "    return a - b",
        "    # fixed below",
    ]
    with pytest.raises(ToolRefused, match="cannot insert after line 99"):
        tools.edit([{"op": "insert", "path": "calc.py", "line": 99, "text": "x"}])
    (tools.root / "latin1.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ToolRefused, match=r"rule: apply\.not_text"):
        tools.edit([{"op": "insert", "path": "latin1.txt", "line": 1, "text": "x"}])


def test_a_bad_edit_changes_nothing_and_says_why(tools: WorktreeTools) -> None:
    before = snapshot(tools.root)
    with pytest.raises(ToolRefused) as refused:
        tools.edit(
            [
                {"op": "create", "path": "ok.py", "content": "fine\n"},
                {"op": "str_replace", "path": "calc.py", "old": "return a * b\n", "new": "x\n"},
            ]
        )
    assert "did not apply, nothing changed" in str(refused.value)
    assert "calc.py" in str(refused.value)
    assert snapshot(tools.root) == before
    with pytest.raises(ToolRefused, match="policy"):
        tools.edit([{"op": "create", "path": "README.md", "content": "mine\n"}])
    with pytest.raises(ToolRefused, match="policy"):
        tools.edit([{"op": "create", "path": ".git/hooks/post-commit", "content": "evil\n"}])
    with pytest.raises(ToolRefused, match="edit refused"):
        tools.edit([{"op": "rename", "path": "calc.py"}])
    assert snapshot(tools.root) == before
    assert (tools.root / "calc.py").read_text() == CALC


def test_commands_run_in_the_sandbox_and_feed_the_test_vector(
    attempt_worktree: Worktree, sandbox: BubblewrapSandbox
) -> None:
    tools = WorktreeTools(
        root=attempt_worktree.path,
        sandbox=sandbox,
        policy=WritePolicy(),
        command_limits=Limits(wall_seconds=60),
    )
    failing = tools.run_command(f"{sys.executable} -m pytest -q -p no:cacheprovider")
    assert failing.startswith("exit code 1")
    assert "1 failed, 1 passed" in failing
    outside = tools.run_command("touch /work/should-not-exist; echo $?")
    assert not Path("/work/should-not-exist").exists()
    assert outside.startswith("exit code 0")
    tools.edit(
        [
            {
                "op": "str_replace",
                "path": "calc.py",
                "old": "return a - b\n\n\ndef",
                "new": "return a + b\n\n\ndef",
            }
        ]
    )
    tools.run_command(f"{sys.executable} -m pytest -q -p no:cacheprovider")
    assert tools.test_vector() == (
        (f"{sys.executable} -m pytest -q -p no:cacheprovider", 0, 2, 0),
        ("touch /work/should-not-exist; echo $?", 0, None, None),
    )


def test_long_output_keeps_head_and_tail() -> None:
    text = "start " + "x" * 50_000 + " end"
    clipped = clip(text, 1000)
    assert clipped.startswith("start ")
    assert clipped.endswith(" end")
    assert len(clipped) < 1100


def test_build_artifacts_never_enter_the_diff(attempt_worktree: Worktree) -> None:
    root = attempt_worktree.path
    for artifact in (
        "__pycache__/calc.cpython-311.pyc",
        "pkg/.pytest_cache/v/x",
        "node_modules/a.js",
        ".coverage.host.1234.XyZ",
        "sub/.coverage",
    ):
        (root / artifact).parent.mkdir(parents=True, exist_ok=True)
        (root / artifact).write_text("generated\n")
    (root / "stray.pyc").write_bytes(b"\x00")
    (root / "pkg" / "real.py").write_text("VALUE = 1\n")
    assert changed_paths(attempt_worktree) == ("pkg/real.py",)
    assert "node_modules" not in worktree_diff(attempt_worktree)
