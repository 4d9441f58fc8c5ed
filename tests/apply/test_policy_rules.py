"""The write rules on entries, one by one: which rule, which path, and what the message tells."""

from __future__ import annotations

import pytest

from autopack.apply.paths import folded, is_git_name, normalised_path, protected_by
from autopack.apply.policy import DEFAULT_PROTECTED_PATHS, WritePolicy, judge_entries
from autopack.errors import PolicyViolation
from autopack.workspace.base import Entry

LINKS = WritePolicy(symlinks=("links/*",))


def added(path: str, mode: str = "100644", **fields: object) -> Entry:
    return Entry.model_validate(
        {"path": path, "status": "A", "new_mode": mode, "size": 2, "added_lines": 1, **fields}
    )


def refusal(entries: list[Entry], policy: WritePolicy | None = None) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as caught:
        judge_entries(entries, policy or WritePolicy())
    return caught.value


@pytest.mark.parametrize(
    ("entry", "policy", "rule", "says"),
    [
        (added("docs/l", "120000", symlink_target="x"), WritePolicy(), "mode.symlink", "may not be created"),
        (added("links/a", "120000", symlink_target="/etc/passwd"), LINKS, "mode.symlink", "'/etc/passwd' is outside the repository"),
        (added("links/a", "120000", symlink_target="../../x"), LINKS, "mode.symlink", "'../../x' is refused: '..' is not allowed"),
        (added("links/a", "120000", symlink_target=".."), LINKS, "mode.symlink", "is refused: the path does not name a file"),
        (added("links/a", "120000", symlink_target="../.git/config"), LINKS, "mode.symlink", "is refused: nothing under .git"),
        (added("links/a", "120000"), LINKS, "mode.symlink", "target is unknown"),
        (added("vendor/lib", "160000"), WritePolicy(), "mode.gitlink", "a nested git repository"),
        (Entry(path="old/sub", status="D", old_mode="160000"), WritePolicy(), "mode.gitlink", "commit its files as plain files"),
        (added("legacy.txt", "100664"), WritePolicy(), "mode.unsupported", "mode 100664 is not allowed"),
        (added(".circleci"), WritePolicy(), "path.protected", "protected by '.circleci/**'"),
        (added(".autopack"), WritePolicy(), "path.protected", "protected by '.autopack/**'"),
        (added("src/x.bin", binary=True), WritePolicy(), "content.binary", "binary content"),
        (added("a/./b"), WritePolicy(), "path.not_normal", "not in normal form ('a/b')"),
    ],
)  # fmt: skip
def test_each_rule_names_the_path_and_says_why(
    entry: Entry, policy: WritePolicy, rule: str, says: str
) -> None:
    violation = refusal([added("src/fine.py"), entry], policy)
    assert (violation.rule, violation.path) == (rule, entry.path)
    assert says in violation.detail
    assert str(violation) == f"{entry.path}: {violation.detail} (rule: {rule})"


def test_what_the_rules_allow() -> None:
    judge_entries(
        [
            added("links/app.py", "120000", symlink_target="../src/app.py"),
            added("bin/run", "100755"),
            Entry(path="old.txt", status="D", old_mode="100644", removed_lines=3),
            Entry(path="link", status="D", old_mode="120000"),
            added("src/x.bin", binary=True),
        ],
        WritePolicy(symlinks=("links/*",), allow_binary=True),
    )


def test_caps_count_every_entry() -> None:
    policy = WritePolicy(max_files=2, max_changed_lines=10, max_bytes=100)
    assert refusal([], policy).rule == "patch.empty"
    assert refusal([added("a"), added("b"), added("c")], policy).rule == "size.files"
    judge_entries([added("a", added_lines=5), added("b", added_lines=0, removed_lines=5)], policy)
    lines = refusal([added("a", added_lines=6), added("b", added_lines=0, removed_lines=5)], policy)
    assert (lines.rule, lines.detail) == ("size.lines", "11 changed lines exceed the cap of 10")
    judge_entries([added("a", size=60), added("b", size=40)], policy)
    size = refusal([added("a", size=60), added("b", size=41)], policy)
    assert (size.rule, size.detail) == ("size.bytes", "101 bytes exceed the cap of 100")


def test_a_partial_policy_keeps_the_defaults_and_unprotect_must_name_one() -> None:
    assert WritePolicy(max_files=5).protected == DEFAULT_PROTECTED_PATHS
    mine = WritePolicy(protected_paths=("docs/**",), unprotect=(".circleci/**",))
    assert mine.protected == (
        *(glob for glob in DEFAULT_PROTECTED_PATHS if glob != ".circleci/**"),
        "docs/**",
    )
    with pytest.raises(ValueError, match=r"unprotect names 'src/\*\*', not a default"):
        WritePolicy(unprotect=("src/**",))


@pytest.mark.parametrize(
    "name",
    [".git", ".GIT", ".git.", ".git ", ".git . .", "git~1", "GIT~12", ".git:x", ".git::$DATA",
     ".g\u200cit", "\ufeff.git", ".git\u206f", ".gitmodules", ".GitModules. ", "gi7eab~1",
     "GI7EABa~3", "gitmod~2"],
)  # fmt: skip
def test_every_spelling_of_git_is_a_git_name(name: str) -> None:
    assert is_git_name(name)


@pytest.mark.parametrize(
    "name", [".github", ".gitignore", ".gitattributes", "git", ".gi", "git~", "agit~1", ".git-x"]
)
def test_neighbours_of_git_are_not(name: str) -> None:
    assert not is_git_name(name)


def test_folding_and_protected_spellings() -> None:
    assert folded(".GitHub. ") == ".github"
    assert folded("a\u200db") == "ab"
    assert folded("x:stream") == "x"
    assert (
        protected_by(".GitHub/Workflows/ci.yml", DEFAULT_PROTECTED_PATHS) == ".github/workflows/**"
    )
    assert protected_by(".github/workflows", DEFAULT_PROTECTED_PATHS) == ".github/workflows/**"
    assert protected_by(".github/other.yml", DEFAULT_PROTECTED_PATHS) is None
    assert protected_by("docs/A.MD", ("docs/*.md",)) == "docs/*.md"


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("a" * 255, None),
        ("a" * 256, "path.too_long"),
        ("\u00e9" * 128, "path.too_long"),
        ("/".join(["d" * 250] * 16), None),
        ("/".join(["d" * 250] * 16) + "/" + "x" * 80, None),
        ("/".join(["d" * 250] * 16) + "/" + "x" * 81, "path.too_long"),
        ("src/\udcff.py", "path.encoding"),
        ("src/a\x85.py", "path.control_characters"),
        ("src/a\x9f.py", "path.control_characters"),
        ("src/a\xa0.py", None),
    ],
)
def test_name_limits(raw: str, rule: str | None) -> None:
    if rule is None:
        assert normalised_path(raw) == raw
        return
    with pytest.raises(PolicyViolation) as caught:
        normalised_path(raw)
    assert caught.value.rule == rule


def test_the_model_reads_the_whole_reason() -> None:
    """What the Builder is told verbatim, so it can fix the attempt rather than guess."""
    assert refusal([added("docs/l", "120000", symlink_target="x")]).detail == (
        "symlinks may not be created (allow some with [policy] symlinks)"
    )
    assert refusal([added("links/a", "120000")], LINKS).detail == (
        "the symlink's target is unknown (over the size cap)"
    )
    assert refusal([added("vendor/lib", "160000")]).detail == (
        "a nested git repository (a gitlink, as for a submodule) was created or changed here; "
        "commit its files as plain files instead"
    )
