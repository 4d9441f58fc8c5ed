"""The Autopack exception tree: every failure a user can meet has a class and a clear sentence.

    AutopackError
    ├── ConfigError               autopack.toml or the environment is wrong
    ├── RepoError                 the target repository is missing or unusable
    ├── PlanError                 a plan file cannot be parsed or is inconsistent (file, line)
    ├── IllegalTransition         a state machine was asked for a move its table forbids
    │   └── MissingFailureReason  a DONE_FAILED_* state without a reason, or a reason without failure
    ├── StoreError                the database cannot be opened, migrated or written
    │   └── NotFound              a run, tier, phase or project id does not exist
    ├── IssueFileError            a phase issue file or backlog file is malformed
    ├── PatchFormatError          an agent's patch cannot be parsed (names the line)
    ├── PolicyViolation           a patch would write where it may not (names the path and the rule)
    └── PatchApplyError           a patch does not fit the files; per-hunk diagnostics attached

The CLI turns any of these into one sentence on stderr and the exit code of its class (the
table is in docs/operations.md and `autopack --help`): 1 for an AutopackError of no class below,
2 ConfigError, 3 PlanError, 4 RepoError, 5 StoreError; 6 the environment (the sandbox or the
project's environment, verify/), 7 a refused promotion or approval (run/promote.py), 9 a run
another live process drives (run/lease.py).
"""

from __future__ import annotations

from pathlib import Path


class AutopackError(Exception):
    """Base of every error Autopack raises on purpose."""

    exit_code: int = 1


class ConfigError(AutopackError):
    """The configuration (autopack.toml or environment) is invalid, or a preflight check refused."""

    exit_code = 2


class RepoError(AutopackError):
    """The repository Autopack was pointed at is missing or not usable."""

    exit_code = 4


class GitError(RepoError):
    """A git command failed; the message carries git's own words."""


class PlanError(AutopackError):
    """A plan could not be parsed; names the file and, where known, the line."""

    exit_code = 3

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.detail = message
        location = ""
        if self.path is not None:
            location = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{location}: {message}" if location else message)


class IllegalTransition(AutopackError):
    """A state machine refused a transition; names the machine, both states and the event."""

    def __init__(self, machine: str, current: str, event: str, target: str | None = None):
        self.machine = machine
        self.current = current
        self.event = event
        self.target = target
        if target is None:
            message = f"{machine}: event {event} is not allowed in state {current}"
        else:
            message = f"{machine}: illegal transition {current} -> {target} (event {event})"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[IllegalTransition], tuple[str, str, str, str | None]]:
        # Durable steps pickle what they raise; the default would call __init__ with the message.
        return (IllegalTransition, (self.machine, self.current, self.event, self.target))


class MissingFailureReason(IllegalTransition):
    """Every DONE_FAILED_* state carries a reason, and only those states do."""

    def __init__(self, message: str):
        AutopackError.__init__(self, message)
        self.machine = "run"


class StoreError(AutopackError):
    """The database could not be opened, migrated or written."""

    exit_code = 5


class NotFound(StoreError):
    """A requested record does not exist."""


class IssueFileError(AutopackError):
    """A phase issue file, run index or backlog file is malformed."""


class PatchFormatError(AutopackError):
    """A patch in any supported format could not be parsed."""

    def __init__(self, message: str, *, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


class PolicyViolation(AutopackError):
    """A patch breaks a write rule; nothing was written."""

    def __init__(self, path: str, rule: str, detail: str):
        self.path = path
        self.rule = rule
        self.detail = detail
        super().__init__(f"{path}: {detail} (rule: {rule})")


class PatchApplyError(AutopackError):
    """At least one hunk does not apply; nothing was written. `diagnostics` say what to fix.

    `rule` names the first refusal (apply.no_match, apply.missing_file, apply.write_failed, ...).
    """

    def __init__(self, diagnostics: list[str], rule: str = "apply.no_match"):
        self.diagnostics = diagnostics
        self.rule = rule
        super().__init__("; ".join(diagnostics) + f" (rule: {rule})")
