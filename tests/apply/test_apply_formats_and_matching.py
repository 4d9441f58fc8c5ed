"""Every format agents emit applies through the same cascade; diagnostics say what to fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autopack.apply.formats.detect import parse_patch_text
from autopack.apply.formats.edits import parse_edits
from autopack.apply.governed import apply_governed
from autopack.apply.matching import MatchLevel
from autopack.apply.patch import ChangeKind, FileChange, Hunk, Patch
from autopack.apply.policy import WritePolicy
from autopack.errors import PatchApplyError
from autopack.testing.filesystem import snapshot

APP = "src/app.py"


def apply_text(workspace: Path, policy: WritePolicy, text: str) -> list[MatchLevel | None]:
    result = apply_governed(workspace, parse_patch_text(text), policy)
    return [hunk.level for hunk in result.hunks]


def app(workspace: Path) -> str:
    return (workspace / APP).read_text()


def test_git_style_diff_edits_creates_and_deletes(workspace: Path, policy: WritePolicy) -> None:
    text = (
        "diff --git a/src/app.py b/src/app.py\nindex 1111111..2222222 100644\n--- a/src/app.py\n+++ b/src/app.py\n"
        "@@ -1,2 +1,2 @@\n def greet(name):\n-    return 'hello ' + name\n+    return 'hi ' + name\n"
        "diff --git a/src/new.py b/src/new.py\nnew file mode 100644\nindex 0000000..3333333\n--- /dev/null\n+++ b/src/new.py\n"
        "@@ -0,0 +1,2 @@\n+NEW = 1\n+OTHER = 2\n"
        "diff --git a/README.md b/README.md\ndeleted file mode 100644\n--- a/README.md\n+++ /dev/null\n@@ -1 +0,0 @@\n-# App\n"
    )
    result = apply_governed(workspace, parse_patch_text(text), policy)
    assert "return 'hi ' + name" in app(workspace)
    assert (workspace / "src/new.py").read_text() == "NEW = 1\nOTHER = 2\n"
    assert not (workspace / "README.md").exists()
    assert sorted(result.written) == ["src/app.py", "src/new.py"]
    assert result.deleted == ["README.md"]


def test_plain_diff_with_miscounted_header_and_bare_blank_context(
    workspace: Path, policy: WritePolicy
) -> None:
    text = "--- src/app.py\n+++ src/app.py\n@@ -3,9 +3,9 @@\n\n\n def main():\n-    print(greet('world'))\n+    print(greet('there'))\n"
    assert apply_text(workspace, policy, text) == [MatchLevel.EXACT]
    assert "greet('there')" in app(workspace)


def test_removed_line_starting_with_dashes_is_not_a_file_header(
    workspace: Path, policy: WritePolicy
) -> None:
    (workspace / "notes.txt").write_text("a\n-- old dashes\nc\n")
    text = (
        "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n a\n--- old dashes\n+++ new plus\n c\n"
    )
    apply_text(workspace, policy, text)
    assert (workspace / "notes.txt").read_text() == "a\n++ new plus\nc\n"


def test_aider_blocks_in_fences_edit_and_create(workspace: Path, policy: WritePolicy) -> None:
    text = (
        "Here you go:\n\nsrc/app.py\n```python\n<<<<<<< SEARCH\n    return 'hello ' + name\n=======\n    return 'hey ' + name\n>>>>>>> REPLACE\n```\n\n"
        "src/extra.py\n```python\n<<<<<<< SEARCH\n=======\nEXTRA = True\n>>>>>>> REPLACE\n```\n"
    )
    patch = parse_patch_text(text)
    assert [c.kind for c in patch.changes] == [ChangeKind.EDIT, ChangeKind.CREATE]
    apply_governed(workspace, patch, policy)
    assert "'hey '" in app(workspace)
    assert (workspace / "src/extra.py").read_text() == "EXTRA = True\n"


def test_codex_envelope_add_update_move_delete(workspace: Path, policy: WritePolicy) -> None:
    text = (
        "*** Begin Patch\n*** Add File: src/added.py\n+ADDED = 1\n"
        "*** Update File: src/app.py\n*** Move to: src/greeting.py\n@@ def greet(name):\n-    return 'hello ' + name\n+    return 'howdy ' + name\n"
        "*** Delete File: README.md\n*** End Patch\n"
    )
    result = apply_governed(workspace, parse_patch_text(text), policy)
    assert (workspace / "src/added.py").read_text() == "ADDED = 1\n"
    assert "'howdy '" in (workspace / "src/greeting.py").read_text()
    assert not (workspace / APP).exists()
    assert sorted(result.deleted) == ["README.md", "src/app.py"]


def test_direct_edits_replace_part_of_a_line(workspace: Path, policy: WritePolicy) -> None:
    patch = parse_edits(
        [
            {"op": "str_replace", "path": APP, "old": "greet('world')", "new": "greet('moon')"},
            {"op": "create", "path": "docs/usage.md", "content": "Run it.\n"},
            {"op": "delete", "path": "README.md"},
        ]
    )
    apply_governed(workspace, patch, policy)
    assert "greet('moon')" in app(workspace)
    assert (workspace / "docs/usage.md").read_text() == "Run it.\n"


def test_str_replace_of_repeated_text_is_ambiguous(workspace: Path, policy: WritePolicy) -> None:
    patch = parse_edits(
        '[{"op": "str_replace", "path": "src/app.py", "old": "greet(", "new": "salute("}]'
    )
    with pytest.raises(PatchApplyError, match="occurs 2 times"):
        apply_governed(workspace, patch, policy)


def block(search: str, replace: str, path: str = APP) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_trailing_whitespace_level(workspace: Path, policy: WritePolicy) -> None:
    levels = apply_text(workspace, policy, block("def main():   \n", "def main() -> None:\n"))
    assert levels == [MatchLevel.TRAILING_WHITESPACE]
    assert "def main() -> None:" in app(workspace)


def test_leading_whitespace_level_keeps_the_files_indentation(
    workspace: Path, policy: WritePolicy
) -> None:
    levels = apply_text(
        workspace,
        policy,
        block("return 'hello ' + name\n", "name = name.strip()\nreturn 'hello ' + name\n"),
    )
    assert levels == [MatchLevel.LEADING_WHITESPACE]
    assert "    name = name.strip()\n    return 'hello ' + name\n" in app(workspace)


def test_unicode_punctuation_level(workspace: Path, policy: WritePolicy) -> None:
    levels = apply_text(
        workspace,
        policy,
        block("    return \u2018hello \u2019 + name\n", "    return 'hello, ' + name\n"),
    )
    assert levels == [MatchLevel.UNICODE]
    assert "'hello, '" in app(workspace)


def test_elision_keeps_the_lines_it_stands_for(workspace: Path, policy: WritePolicy) -> None:
    search = "def greet(name):\n...\ndef main():\n"
    replace = "def greet(name: str) -> str:\n...\ndef main() -> None:\n"
    assert apply_text(workspace, policy, block(search, replace)) == [MatchLevel.ELISION]
    assert app(workspace) == (
        "def greet(name: str) -> str:\n    return 'hello ' + name\n\n\ndef main() -> None:\n    print(greet('world'))\n"
    )


def test_near_miss_is_never_applied_and_gets_a_did_you_mean(
    workspace: Path, policy: WritePolicy
) -> None:
    before = snapshot(workspace)
    with pytest.raises(PatchApplyError) as caught:
        apply_text(
            workspace,
            policy,
            block("def greet(nme):\n    return 'hello ' + nme\n", "def greet(n):\n"),
        )
    message = str(caught.value)
    assert "hunk 1" in message
    assert "did you mean lines 1-2" in message
    assert "1: def greet(name):" in message
    assert snapshot(workspace) == before


def test_ambiguous_match_lists_the_candidates(workspace: Path, policy: WritePolicy) -> None:
    (workspace / "dup.py").write_text("x = 1\ny = 2\n\nx = 1\ny = 2\n")
    with pytest.raises(PatchApplyError) as caught:
        apply_text(workspace, policy, block("x = 1\ny = 2\n", "x = 3\ny = 2\n", path="dup.py"))
    assert "matches 2 places (starting at lines 1, 4" in str(caught.value)


def test_already_applied_patch_is_idempotent_success(workspace: Path, policy: WritePolicy) -> None:
    text = block("    return 'hello ' + name\n", "    return 'hello there ' + name\n")
    apply_text(workspace, policy, text)
    after_first = app(workspace)
    result = apply_governed(workspace, parse_patch_text(text), policy)
    assert not result.changed
    assert result.hunks[0].already_applied
    assert app(workspace) == after_first


def test_crlf_files_keep_their_line_endings_and_mode(workspace: Path, policy: WritePolicy) -> None:
    script = workspace / "run.sh"
    script.write_bytes(b"#!/bin/sh\r\necho one\r\n")
    os.chmod(script, 0o755)
    apply_text(workspace, policy, block("echo one\n", "echo two\n", path="run.sh"))
    assert script.read_bytes() == b"#!/bin/sh\r\necho two\r\n"
    assert script.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (block("x\n", "y\n", path="src/missing.py"), "src/missing.py: the file does not exist"),
        (
            block("", "again\n", path="README.md").replace("again\n", "# other\n"),
            "README.md: already exists",
        ),
    ],
)
def test_missing_and_existing_files_are_clear_errors(
    workspace: Path, policy: WritePolicy, text: str, message: str
) -> None:
    with pytest.raises(PatchApplyError, match=message):
        apply_text(workspace, policy, text)


def test_binary_edit_allowed_by_policy_still_needs_git(workspace: Path) -> None:
    text = (
        "diff --git a/img.png b/img.png\nindex 1..2 100644\nGIT binary patch\nliteral 1\nIcmZ?l\n\n"
    )
    with pytest.raises(PatchApplyError, match="binary patches cannot be applied by hunks"):
        apply_governed(workspace, parse_patch_text(text), WritePolicy(allow_binary=True))


def test_loose_match_keeps_the_files_own_context_lines(
    workspace: Path, policy: WritePolicy
) -> None:
    """Context copied with curly quotes or trailing spaces must not overwrite the file's real lines."""
    search = "def greet(name):   \n    return \u2018hello \u2019 + name\n"
    replace = "def greet(name):   \n    return \u2018hello \u2019 + name\n# greeted\n"
    apply_text(workspace, policy, block(search, replace))
    assert app(workspace).startswith("def greet(name):\n    return 'hello ' + name\n# greeted\n")


def test_snippet_indented_less_than_the_file_is_shifted_back(
    workspace: Path, policy: WritePolicy
) -> None:
    (workspace / "cls.py").write_text("class A:\n    def f(self):\n        return 1\n\n    x = 2\n")
    search = "def f(self):\n    return 1\n"
    replace = "def f(self):\n    return 1\n\ndef g(self):\n    return 3\n"
    assert apply_text(workspace, policy, block(search, replace, path="cls.py")) == [
        MatchLevel.LEADING_WHITESPACE
    ]
    assert (workspace / "cls.py").read_text() == (
        "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 3\n\n    x = 2\n"
    )


def test_unified_line_numbers_pick_one_of_several_identical_places(
    workspace: Path, policy: WritePolicy
) -> None:
    (workspace / "dup.py").write_text("x = 1\ny = 2\n\nx = 1\ny = 2\n")
    exact = "--- a/dup.py\n+++ b/dup.py\n@@ -4,2 +4,2 @@\n-x = 1\n+x = 3\n y = 2\n"
    apply_text(workspace, policy, exact)
    assert (workspace / "dup.py").read_text() == "x = 1\ny = 2\n\nx = 3\ny = 2\n"
    wrong_line = "--- a/dup.py\n+++ b/dup.py\n@@ -9 +9 @@\n-y = 2\n+y = 5\n"
    with pytest.raises(PatchApplyError, match="matches 2 places"):
        apply_text(workspace, policy, wrong_line)


def test_line_numbers_follow_earlier_hunks_of_the_same_file(
    workspace: Path, policy: WritePolicy
) -> None:
    (workspace / "dup.py").write_text("a\nx = 1\n\nx = 1\n")
    text = (
        "--- a/dup.py\n+++ b/dup.py\n@@ -1 +1,3 @@\n-a\n+a\n+b\n+c\n@@ -4 +6 @@\n-x = 1\n+x = 2\n"
    )
    apply_text(workspace, policy, text)
    assert (workspace / "dup.py").read_text() == "a\nb\nc\nx = 1\n\nx = 2\n"


def test_no_newline_at_end_of_file_markers_are_honoured(
    workspace: Path, policy: WritePolicy
) -> None:
    (workspace / "end.txt").write_text("a\nb")
    text = (
        "--- a/end.txt\n+++ b/end.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
        "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+only\n\\ No newline at end of file\n"
    )
    apply_text(workspace, policy, text)
    assert (workspace / "end.txt").read_text() == "a\nc"
    assert (workspace / "new.txt").read_text() == "only"


def test_adding_the_missing_final_newline(workspace: Path, policy: WritePolicy) -> None:
    (workspace / "end.txt").write_text("a\nb")
    apply_text(
        workspace,
        policy,
        "--- a/end.txt\n+++ b/end.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
    )
    assert (workspace / "end.txt").read_text() == "a\nb\n"


def test_deleting_the_last_lines_keeps_the_final_newline(
    workspace: Path, policy: WritePolicy
) -> None:
    (workspace / "end.txt").write_text("a\nb\nc\n")
    apply_text(workspace, policy, "--- a/end.txt\n+++ b/end.txt\n@@ -2,2 +1,0 @@\n-b\n-c\n")
    assert (workspace / "end.txt").read_text() == "a\n"


def test_blank_lines_after_a_hunk_are_spacing_not_context(
    workspace: Path, policy: WritePolicy
) -> None:
    text = "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# App\n+# Application\n\n\n"
    apply_text(workspace, policy, text)
    assert (workspace / "README.md").read_text() == "# Application\n"


def test_lines_a_loose_hunk_moves_keep_the_files_own_text(
    workspace: Path, policy: WritePolicy
) -> None:
    """The greedy matcher leaves one of two moved blocks unpaired; it is still the file's text."""
    (workspace / "src" / "moves.py").write_text("a = 1\nb = 2\nc = 3\nd = 4\n")
    search = "a = 1  \nb = 2  \nc = 3  \nd = 4  \n"
    replace = "c = 3  \nd = 4  \nx = 0\na = 1  \nb = 2  \n"
    patch = Patch(
        changes=(
            FileChange(
                path="src/moves.py",
                kind=ChangeKind.EDIT,
                hunks=(Hunk(search=search, replace=replace),),
            ),
        ),
        source_format="test",
    )
    apply_governed(workspace, patch, policy)
    assert (workspace / "src" / "moves.py").read_text() == "c = 3\nd = 4\nx = 0\na = 1\nb = 2\n"


def test_a_git_diff_of_a_crlf_file_keeps_crlf(workspace: Path, policy: WritePolicy) -> None:
    """Git keeps each line's \\r in the diff of a CRLF file; the result has no doubled \\r."""
    target = workspace / "dos.txt"
    target.write_bytes(b"a\r\nb\r\nc\r\n")
    diff = "--- a/dos.txt\n+++ b/dos.txt\n@@ -1,3 +1,3 @@\n a\r\n-b\r\n+B\r\n c\r\n"
    apply_governed(workspace, parse_patch_text(diff), policy)
    assert target.read_bytes() == b"a\r\nB\r\nc\r\n"
