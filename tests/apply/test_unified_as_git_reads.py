"""The unified-diff parser reads a patch as git does: the same lines, the same file names."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from autopack.apply.formats import unified
from autopack.apply.formats.unified import parse_unified
from autopack.apply.patch import ChangeKind, FileChange, Hunk
from autopack.errors import PatchFormatError

GIT_IDENTITY = ("-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false")
DIFF = (
    "diff",
    "--cached",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
)


def git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    # The user's configuration and a surrounding hook's GIT_DIR must not change what git prints.
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env |= {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    argv = ["git", *GIT_IDENTITY, "-c", "core.autocrlf=false", "-c", "init.defaultBranch=main"]
    return subprocess.run(
        [*argv, *args], cwd=root, env=env, input=stdin, capture_output=True, check=True
    ).stdout


def text_of(output: bytes) -> str:
    return output.decode("utf-8", "surrogateescape")


def only_change(text: str) -> FileChange:
    changes = parse_unified(text).changes
    assert len(changes) == 1
    return changes[0]


def git_reads(root: Path, patch: str) -> list[list[str]]:
    """What `git apply --numstat -z` makes of a patch: [added, removed, path] per file."""
    fields = text_of(git(root, "apply", "--numstat", "-z", stdin=patch.encode())).split("\0")
    return [record.split("\t", 2) for record in fields if record]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    return tmp_path


# -- 1. lines end at "\n" only ------------------------------------------------------------------

BREAKS = ["\x0c", "\x0b", "\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\r"]


@pytest.mark.parametrize("brk", BREAKS, ids=[f"U+{ord(b):04X}" for b in BREAKS])
def test_other_line_breaks_stay_inside_a_hunk_line(repo: Path, brk: str) -> None:
    patch = (
        "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n"
        f" keep{brk}@@ -9 +9 @@\n"
        f"-old{brk}--- a/evil\n"
        f"+new{brk}+++ b/evil{brk}diff --git a/evil b/evil\n"
        f" tail{brk}\n"
    )
    change = only_change(patch)
    assert change.path == "f.txt"
    assert change.hunks == (
        Hunk(
            search=f"keep{brk}@@ -9 +9 @@\nold{brk}--- a/evil\ntail{brk}\n",
            replace=f"keep{brk}@@ -9 +9 @@\nnew{brk}+++ b/evil{brk}diff --git a/evil b/evil\ntail{brk}\n",
            line_hint=1,
        ),
    )
    assert git_reads(repo, patch) == [["1", "1", "f.txt"]]


def test_a_carriage_return_before_the_newline_is_line_content() -> None:
    patch = "--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1 +1 @@\r\n-one\r\n+two\r\n"
    change = only_change(patch)
    assert change.path == "w.txt"
    assert change.hunks == (Hunk(search="one\r\n", replace="two\r\n", line_hint=1),)


def test_a_created_file_keeps_form_feeds_and_separators() -> None:
    content = "page\x0cbreak\nline\u2028sep\r\nend"
    body = "".join(f"+{line}\n" for line in content.split("\n"))
    patch = f"--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,3 @@\n{body}\\ No newline at end of file\n"
    assert only_change(patch) == FileChange(path="new.txt", kind=ChangeKind.CREATE, content=content)


# -- 2. file names as git reads them ------------------------------------------------------------


def test_a_name_with_spaces_keeps_its_mode_lines() -> None:
    created = "diff --git a/my dir/run me.sh b/my dir/run me.sh\nnew file mode 100755\nindex 0000000..e69de29\n"
    assert only_change(created) == FileChange(
        path="my dir/run me.sh", kind=ChangeKind.CREATE, content="", mode="100755"
    )
    chmod = "diff --git a/a b/c b/a b/c\nold mode 100644\nnew mode 100755\n"
    assert only_change(chmod) == FileChange(path="a b/c", kind=ChangeKind.EDIT, mode="100755")
    deleted = "diff --git a/x\ty b/x\ty\ndeleted file mode 100644\nindex e69de29..0000000\n"
    assert only_change(deleted) == FileChange(path="x\ty", kind=ChangeKind.DELETE)


def test_git_quotes_names_and_we_unquote_them(repo: Path) -> None:
    names = ["tab\there.txt", 'say "hi".txt', "back\\slash.txt", "caf\u00e9 \u6f22.txt", "nl\nx"]
    write_tree(repo, dict.fromkeys(names, "one\n"), set())
    git(repo, "add", "-A")
    diff = text_of(git(repo, "-c", "core.quotePath=true", *DIFF))
    assert '"b/caf\\303\\251 \\346\\274\\242.txt"' in diff
    patch = parse_unified(diff)
    assert sorted(patch.paths) == sorted(names)
    assert all(change.content == "one\n" for change in patch.changes)


def test_quoted_header_without_dashes_names_the_file() -> None:
    patch = (
        'diff --git "a/caf\\303\\251\\t\\"x\\"" "b/caf\\303\\251\\t\\"x\\""\nnew file mode 100644\n'
    )
    assert only_change(patch).path == 'caf\u00e9\t"x"'


def test_dashes_lines_name_the_file_over_the_header() -> None:
    patch = (
        "diff --git a/one b/one\nindex 1..2 100644\n"
        '--- "a/real \\346\\274\\242"\n+++ "b/real \\346\\274\\242"\n@@ -1 +1 @@\n-a\n+b\n'
    )
    assert only_change(patch).path == "real \u6f22"


def test_header_lines_that_contradict_each_other_are_refused() -> None:
    with pytest.raises(PatchFormatError, match="expected /dev/null"):
        parse_unified("diff --git a/x b/x\nnew file mode 100644\n--- a/x\n+++ b/x\n")
    with pytest.raises(PatchFormatError, match="inconsistent"):
        parse_unified("diff --git a/x b/x\nnew file mode 100644\ndeleted file mode 100644\n")
    with pytest.raises(PatchFormatError, match="before any file header"):
        parse_unified("@@ -1 +1 @@\n-a\n+b\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")


# -- 3. plain '---'/'+++' diffs -----------------------------------------------------------------


def test_plain_diffs_with_timestamps_and_spaces(repo: Path) -> None:
    stamp = "2024-05-01 10:00:00.000000000 +0200"
    patch = f"--- a/my file.txt\t{stamp}\n+++ b/my file.txt\t{stamp}\n@@ -1 +1 @@\n-a\n+b\n"
    assert only_change(patch).path == "my file.txt"
    assert git_reads(repo, patch) == [["1", "1", "my file.txt"]]
    unprefixed = "--- src/app.py\n+++ src/app.py\n@@ -1 +1 @@\n-a\n+b\n"
    assert only_change(unprefixed).path == "src/app.py"
    created = "--- /dev/null\n+++ b/new file.txt\n@@ -0,0 +1 @@\n+x\n"
    assert only_change(created) == FileChange(
        path="new file.txt", kind=ChangeKind.CREATE, content="x\n"
    )
    deleted = "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    assert only_change(deleted) == FileChange(path="gone.txt", kind=ChangeKind.DELETE)


# -- 4. renames and copies ----------------------------------------------------------------------


def test_a_rename_with_a_hunk_names_both_paths(repo: Path) -> None:
    lines = "".join(f"line {n}\n" for n in range(20))
    (repo / "old name.txt").write_text(lines)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    (repo / "old name.txt").rename(repo / "new\tname.txt")
    (repo / "new\tname.txt").write_text(lines.replace("line 10\n", "line ten\n"))
    git(repo, "add", "-A")
    diff = text_of(git(repo, "diff", "--cached", "-M", "--src-prefix=a/", "--dst-prefix=b/"))
    assert "rename from old name.txt" in diff
    change = only_change(diff)
    assert (change.path, change.move_to, change.kind) == (
        "old name.txt",
        "new\tname.txt",
        ChangeKind.EDIT,
    )
    assert [(hunk.search.count("\n"), "line ten\n" in hunk.replace) for hunk in change.hunks] == [
        (7, True)
    ]


def test_pure_renames_and_copies_are_refused_naming_both_paths() -> None:
    rename = "diff --git a/a b/b c\nsimilarity index 100%\nrename from a\nrename to b c\n"
    with pytest.raises(PatchFormatError, match="a -> b c"):
        parse_unified(rename)
    copy = "diff --git a/a b/z\nsimilarity index 90%\ncopy from a\ncopy to z\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(PatchFormatError, match="copies are not supported"):
        parse_unified(copy)


# -- the property: whatever git writes, we read the same files and lines ------------------------

COMPONENT_CHARS = st.sampled_from(
    [*"abAB09 -._", '"', "\t", "\\", "\u00e9", "\u6f22", "\x01", "\x0b", "\x0c", "\r", "\n", "\x7f"]
)
COMPONENTS = st.text(COMPONENT_CHARS, min_size=1, max_size=6).filter(
    # Names git refuses to store.
    lambda part: part not in (".", "..") and part.lower().rstrip(" .") not in (".git", "git~1")
)
PATHS = st.lists(COMPONENTS, min_size=1, max_size=3).map("/".join)
TRICKY_LINES = [
    "",
    " ",
    "\r",
    "x\r",
    "a\x0cb",
    "a\x0bb",
    "a\u2028@@ -1 +1 @@",
    "a\x85b",
    "\x1c\x1d\x1e",
    "@@ -1 +1 @@",
    "-- a/x",
    "++ b/x",
    "--- a/x",
    "diff --git a/x b/x",
    "\\ No newline at end of file",
    "caf\u00e9 \u6f22",
]
LINES = st.one_of(
    st.sampled_from(TRICKY_LINES),
    st.text(st.characters(exclude_characters="\n\x00", codec="utf-8"), max_size=6),
)
TEXTS = st.tuples(st.lists(LINES, max_size=6), st.booleans()).map(
    lambda parts: "\n".join(parts[0]) + ("\n" if parts[1] and parts[0] else "")
)
CONTENTS = st.one_of(TEXTS, TEXTS, TEXTS, st.binary(max_size=8).map(lambda b: b"\0" + b))


def disjoint(paths: list[str]) -> bool:
    """No path may be another's directory."""
    return not any(other.startswith(path + "/") for path in paths for other in paths)


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, str | bytes], dict[str, str | bytes], set[str]]:
    paths = draw(st.lists(PATHS, min_size=1, max_size=5, unique=True).filter(disjoint))
    before = {path: draw(CONTENTS) for path in paths if draw(st.booleans())}
    after: dict[str, str | bytes] = {}
    for path in paths:
        action = draw(st.sampled_from(["keep", "edit", "delete"]))
        if path not in before or action == "edit":
            after[path] = draw(CONTENTS)
        elif action == "keep":
            after[path] = before[path]
    executable = {path for path in after if draw(st.booleans())}
    return before, after, executable


def write_tree(root: Path, files: dict[str, str | bytes], executable: set[str]) -> None:
    for path, content in files.items():
        target = os.path.join(os.fsencode(root), path.encode())
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
        os.chmod(target, 0o755 if path in executable else 0o644)


def clear_tree(root: Path) -> None:
    for entry in os.listdir(os.fsencode(root)):
        if entry != b".git":
            target = os.path.join(os.fsencode(root), entry)
            if os.path.isdir(target):
                shutil.rmtree(target)
            else:
                os.remove(target)


def numstat(root: Path) -> dict[str, list[str]]:
    output = text_of(git(root, "diff", "--cached", "--numstat", "-z", "--no-renames"))
    records = [record.split("\t", 2) for record in output.split("\0") if record]
    return {path: [added, removed] for added, removed, path in records}


def our_numstat(diff: str) -> dict[str, list[str]]:
    """Lines only in a replacement / only in a search text, from the hunk bodies we read."""
    counts = {}
    for file in unified._scan(diff):
        path, _ = unified._names(file)
        body = [line for _, hunk in file.hunks for line in hunk]
        added = sum(line.startswith("+") for line in body)
        removed = sum(line.startswith("-") for line in body)
        counts[path] = ["-", "-"] if file.binary else [str(added), str(removed)]
    return counts


def lines_of(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def applied(text: str, hunks: tuple[Hunk, ...]) -> str:
    """Each hunk placed exactly where its header says, as `git apply` places it without fuzz."""
    lines = lines_of(text)
    for hunk in reversed(hunks):
        search, start = lines_of(hunk.search), max((hunk.line_hint or 1) - 1, 0)
        assert lines[start : start + len(search)] == search
        lines[start : start + len(search)] = lines_of(hunk.replace)
    return "".join(lines)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(histories())
def test_we_read_what_git_writes(
    history: tuple[dict[str, str | bytes], dict[str, str | bytes], set[str]],
) -> None:
    before, after, executable = history
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        git(root, "init", "-q")
        write_tree(root, before, set())
        git(root, "add", "-A")
        stored = {name for name in text_of(git(root, "ls-files", "-z")).split("\0") if name}
        assume(stored == set(before))
        git(root, "commit", "-q", "--allow-empty", "-m", "before")
        clear_tree(root)
        write_tree(root, after, executable)
        git(root, "add", "-A")
        # A mode change alone has no patch text, so nothing in it says whether the file is binary.
        expected = {
            path: ["0", "0"] if before.get(path) == after.get(path) else counts
            for path, counts in numstat(root).items()
        }
        for quote_path in ("true", "false"):
            diff = text_of(git(root, "-c", f"core.quotePath={quote_path}", *DIFF))
            changes = (
                {change.path: change for change in parse_unified(diff).changes} if diff else {}
            )
            assert set(changes) == set(expected)
            assert our_numstat(diff) == expected
            for path, change in changes.items():
                assert change.move_to is None
                old, new = before.get(path), after.get(path)
                mode = "100755" if path in executable else "100644"
                if isinstance(old, bytes) or isinstance(new, bytes):
                    assert change.binary == (expected[path] == ["-", "-"])
                elif old is None:
                    assert change == FileChange(
                        path=path, kind=ChangeKind.CREATE, content=new, mode=mode
                    )
                elif new is None:
                    assert change == FileChange(path=path, kind=ChangeKind.DELETE)
                else:
                    assert applied(old, change.hunks) == new
                    assert change.mode == (mode if mode != "100644" else None)
