"""What the built-in Builder can do, and only inside its attempt worktree.

Each action returns the observation the model reads next. A mistake the model can fix (a path that
does not exist, an edit that does not match) comes back as text with a diagnostic rather than an
exception, so the agent can correct itself; edits go through the governed patch engine, so a bad
edit changes nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autopack.apply.formats.detect import parse_patch_text
from autopack.apply.formats.edits import parse_edits
from autopack.apply.governed import apply_governed
from autopack.apply.patch import Patch
from autopack.apply.paths import normalised_path
from autopack.apply.policy import WritePolicy
from autopack.builder.repomap import RepoMap
from autopack.errors import PatchApplyError, PatchFormatError, PolicyViolation
from autopack.verify.base import CommandResult, Limits, Sandbox, minimal_env

# A read without an end line gets a window; a range may ask for more; both stop short of the
# observation's character bound, so one read of a long or minified file cannot fill the context.
DEFAULT_READ_LINES = 200
MAX_READ_LINES = 400
MAX_LIST_ENTRIES = 500
MAX_SEARCH_HITS = 100
MAX_OBSERVATION_CHARS = 12_000


class ToolRefused(Exception):
    """An action the model asked for that cannot be done as asked; its message is the observation."""


def clip(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    """Head and tail: the start says what ran, the end says how it ended."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… [{len(text) - limit} characters cut] …\n{text[-half:]}"


@dataclass
class CommandRecord:
    command: str
    exit_code: int
    passed: int | None
    failed: int | None


_PASSED = re.compile(r"(\d+) passed")
_FAILED = re.compile(r"(\d+) (?:failed|errors?)\b")


def _counts(output: str) -> tuple[int | None, int | None]:
    passed = _PASSED.findall(output)
    failed = _FAILED.findall(output)
    return (
        int(passed[-1]) if passed else None,
        sum(int(n) for n in failed[-2:]) if failed else (0 if passed else None),
    )


@dataclass
class WorktreeTools:
    root: Path
    sandbox: Sandbox
    policy: WritePolicy
    command_limits: Limits = field(default_factory=lambda: Limits(wall_seconds=300))
    env: Mapping[str, str] = field(default_factory=minimal_env)
    repo_map: RepoMap | None = None
    commands: list[CommandRecord] = field(default_factory=list)

    def _inside(self, raw: str) -> Path:
        try:
            relative = normalised_path(raw)
        except PolicyViolation as violation:
            raise ToolRefused(str(violation)) from None
        path = self.root / relative
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ToolRefused(f"{raw}: resolves outside the worktree")
        return path

    def _directory(self, raw: str) -> Path:
        return self.root if raw.strip() in ("", ".", "./") else self._inside(raw.rstrip("/"))

    def list_files(self, directory: str = ".", pattern: str = "*") -> str:
        base = self._directory(directory)
        if not base.is_dir():
            raise ToolRefused(f"{directory}: no such directory")
        found: list[str] = []
        for current, subdirectories, files in os.walk(base):
            subdirectories[:] = sorted(d for d in subdirectories if d != ".git")
            for name in sorted(files):
                path = Path(current, name)
                if name != ".git" and path.match(pattern):
                    found.append(path.relative_to(self.root).as_posix())
        shown = found[:MAX_LIST_ENTRIES]
        more = len(found) - len(shown)
        return "\n".join(shown) + (f"\n… and {more} more" if more else "") or "(no files)"

    def read_file(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        target = self._inside(path)
        if not target.is_file():
            raise ToolRefused(f"{path}: no such file")
        lines = target.read_text(encoding="utf-8", errors="replace").splitlines()
        start = max(start_line, 1)
        if start > len(lines):
            return f"{path} has {len(lines)} lines; nothing from line {start}"
        window = DEFAULT_READ_LINES if end_line is None else max(end_line - start + 1, 1)
        last = min(start + min(window, MAX_READ_LINES) - 1, len(lines))
        shown: list[str] = []
        size = 0
        for number in range(start, last + 1):
            line = f"{number:>5}│{lines[number - 1]}"
            if shown and size + len(line) + 1 > MAX_OBSERVATION_CHARS:
                break
            shown.append(clip(line))
            size += len(line) + 1
        end = start + len(shown) - 1
        more = f"; read on with start_line={end + 1}" if end < len(lines) else ""
        return "\n".join(shown) + f"\n({path}: lines {start}-{end} of {len(lines)}{more})"

    def search_text(self, pattern: str, path_glob: str = "*", regex: bool = False) -> str:
        try:
            matcher = re.compile(pattern if regex else re.escape(pattern))
        except re.error as error:
            raise ToolRefused(f"not a valid regular expression: {error}") from None
        hits: list[str] = []
        for current, subdirectories, files in os.walk(self.root):
            subdirectories[:] = sorted(d for d in subdirectories if d != ".git")
            for name in sorted(files):
                if name == ".git":  # a worktree's pointer to its repository
                    continue
                path = Path(current, name)
                relative = path.relative_to(self.root).as_posix()
                if not (path.match(path_glob) or Path(relative).match(path_glob)):
                    continue
                try:
                    text = path.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
                for number, line in enumerate(text.splitlines(), 1):
                    if matcher.search(line):
                        hits.append(f"{relative}:{number}: {line.strip()[:200]}")
                        if len(hits) >= MAX_SEARCH_HITS:
                            return "\n".join(hits) + "\n… (more hits; narrow the search)"
        return "\n".join(hits) or "(no matches)"

    def search_symbols(self, name: str) -> str:
        repo_map = self.repo_map or RepoMap(self.root)
        self.repo_map = repo_map
        found = [
            f"{tag.path}:{tag.line}: {tag.kind.value} {tag.category} {tag.name}"
            for tags in repo_map.tags().values()
            for tag in tags
            if tag.name == name or (name.islower() and tag.name.lower() == name)
        ]
        found.sort(key=lambda line: " ref " in line)  # definitions first
        return "\n".join(found[:MAX_SEARCH_HITS]) or f"(no definitions or references of {name})"

    def edit(self, edits: Sequence[Mapping[str, object]]) -> str:
        """Apply edits all together or not at all; the diagnostics say what did not fit."""
        expanded = [self._expand_insert(edit) for edit in edits]
        return self._apply("edit", lambda: parse_edits(expanded))

    def apply_patch(self, text: str) -> str:
        """A patch as text — a unified diff, SEARCH/REPLACE blocks or a '*** Begin Patch'
        envelope, as models write them and as the Auditor suggests them — all or nothing."""
        return self._apply("patch", lambda: parse_patch_text(text))

    def _apply(self, what: str, parse: Callable[[], Patch]) -> str:
        try:
            result = apply_governed(self.root, parse(), self.policy)
        except PatchFormatError as error:
            raise ToolRefused(f"{what} refused, nothing changed: {error}") from None
        except PolicyViolation as violation:
            raise ToolRefused(f"{what} refused by policy, nothing changed: {violation}") from None
        except PatchApplyError as error:
            detail = "\n".join(error.diagnostics)
            raise ToolRefused(
                f"{what} did not apply, nothing changed (rule: {error.rule}):\n{detail}"
            ) from None
        touched = [*result.written, *result.deleted]
        return f"applied: {', '.join(touched) if touched else 'nothing changed (already applied)'}"

    def _expand_insert(self, edit: Mapping[str, object]) -> Mapping[str, object]:
        """`insert` (text after a line number) becomes a str_replace anchored on that line."""
        if edit.get("op") != "insert":
            return edit
        path, text, line = edit.get("path"), edit.get("text"), edit.get("line")
        if not isinstance(path, str) or not isinstance(text, str) or not isinstance(line, int):
            raise ToolRefused("insert needs path (string), line (integer) and text (string)")
        target = self._inside(path)
        if not target.is_file():
            raise ToolRefused(f"{path}: no such file to insert into")
        try:
            lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
        except UnicodeDecodeError:
            raise ToolRefused(
                f"{path}: not UTF-8 text; nothing changed (rule: apply.not_text)"
            ) from None
        if not 0 <= line <= len(lines):
            raise ToolRefused(f"{path} has {len(lines)} lines; cannot insert after line {line}")
        addition = text if text.endswith("\n") else text + "\n"
        if not lines:
            return {"op": "create", "path": path, "content": addition}
        if line == 0:
            anchor = lines[0]
            return {"op": "str_replace", "path": path, "old": anchor, "new": addition + anchor}
        anchor = lines[line - 1] if lines[line - 1].endswith("\n") else lines[line - 1] + "\n"
        context = "".join(lines[max(0, line - 3) : line - 1])
        # Earlier lines make the anchor unique in files that repeat a line (blank lines, braces).
        return {
            "op": "str_replace",
            "path": path,
            "old": context + anchor,
            "new": context + anchor + addition,
        }

    def run_command(self, command: str) -> str:
        result: CommandResult = self.sandbox.run(
            command,
            cwd=self.root,
            writable=[self.root],
            limits=self.command_limits,
            env=self.env,
        )
        output = result.stdout + ("\n" + result.stderr if result.stderr else "")
        passed, failed = _counts(output)
        self.commands.append(CommandRecord(command, result.exit_code, passed, failed))
        status = "timed out" if result.timed_out else f"exit code {result.exit_code}"
        return f"{status} after {result.seconds:.1f}s\n{clip(output)}"

    def test_vector(self) -> tuple[tuple[str, int, int | None, int | None], ...]:
        """The latest outcome of each distinct command: what 'tests changed' is measured by."""
        latest: dict[str, CommandRecord] = {}
        for record in self.commands:
            latest[record.command] = record
        return tuple(
            (record.command, record.exit_code, record.passed, record.failed)
            for record in latest.values()
        )
