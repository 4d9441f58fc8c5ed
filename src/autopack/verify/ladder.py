"""The verification ladder an attempt climbs: each rung stops the climb when it fails, and what it
found becomes the attempt's issues and the Builder's feedback.

1. syntax: the changed Python, JSON and TOML files parse (nothing runs);
2. tests kept: no existing test deleted, skipped or weakened (unless the phase may change tests);
3. targeted: the phase's acceptance checks, then the tests that import the changed code;
4. full: the phase's CI profile, with flaky reruns and the base commit's failures set aside;
5. evidence: a bugfix phase must show a test that failed at the base and passes now.

Acceptance checks must pass whatever the base commit did: a failing acceptance test there is the
bug the phase fixes, never "pre-existing".
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from autopack.domain.strategy import PhaseStrategy
from autopack.domain.vocabulary import TaskCategory, TestChanges
from autopack.verify.acceptance import AcceptanceCheck, CheckKind, runnable_checks
from autopack.verify.affected import affected_tests, test_files
from autopack.verify.base import Limits, Sandbox, TestStatus
from autopack.verify.launchers import Launcher, Runner, launcher_for
from autopack.verify.syntax import syntax_errors
from autopack.verify.test_guard import Weakening, is_test_file, suite_weakenings
from autopack.verify.verifier import CommandOutcome, VerifyResult, run_profile, verify

NO_TESTS_COLLECTED = 5  # pytest's exit code when nothing matched


@dataclass(frozen=True)
class Rung:
    name: str
    passed: bool
    detail: str = ""
    seconds: float = 0.0
    skipped: bool = False


@dataclass(frozen=True)
class BaseFacts:
    """What the base commit did, measured once per run: failing and passing test keys of the
    phase's profile, and each acceptance check's result."""

    failing: frozenset[str] = frozenset()
    passing: frozenset[str] = frozenset()
    acceptance: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class LadderResult:
    rungs: tuple[Rung, ...]
    full: VerifyResult | None
    # Issue keys with a sentence each: what failed, for the phase's issues and the feedback.
    failures: Mapping[str, str]
    weak_acceptance: tuple[str, ...] = ()
    # Failed and then passed on a rerun in an early rung (the full profile reports its own).
    flaky: tuple[str, ...] = ()
    fail_to_pass: tuple[str, ...] = ()
    pass_to_pass: int = 0
    vector: Mapping[str, str] = field(default_factory=dict)
    output: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def stopped_at(self) -> str | None:
        return next((rung.name for rung in self.rungs if not rung.passed), None)


@dataclass
class Ladder:
    """One attempt's climb on the integration worktree (the attempt's patch applied on `head`)."""

    worktree: Path
    phase: PhaseStrategy
    commands: Mapping[str, str]
    sandbox: Sandbox
    limits: Limits
    reports: Path
    base: BaseFacts
    changed: tuple[str, ...]
    before: Callable[[str], str | None]
    env_for: Callable[[Path], Mapping[str, str]]
    # A throwaway checkout of the attempt's base, for running its new tests against the old code.
    base_checkout: Callable[[], tuple[Path, Callable[[], None]]]
    rungs: list[Rung] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    launcher: Launcher | None = field(init=False)

    def __post_init__(self) -> None:
        self.launcher = launcher_for(self.commands)

    def climb(self) -> LadderResult:
        failures = self._syntax() or self._tests_kept()
        if failures:
            return self._result(failures)
        launcher = self.launcher
        checks = runnable_checks(self.phase.acceptance)
        failures = self._acceptance(checks, launcher) or self._targeted(launcher)
        if failures:
            return self._result(failures)
        full = verify(
            self.worktree,
            self.commands,
            self.sandbox,
            self.limits,
            self.reports,
            baseline_failures=set(self.base.failing),
            env=self.env_for(self.worktree),
        )
        self.rungs.append(
            Rung(
                "full",
                full.passed,
                f"{len(full.failures)} failing" if not full.passed else "passed",
                sum(outcome.seconds for run in full.runs for outcome in run),
            )
        )
        if not full.passed:
            return self._result({key: "fails" for key in full.failures}, full)
        vector = _vector(full.final)
        passing_now = {key for key, status in vector.items() if status == TestStatus.PASSED}
        fail_to_pass = sorted(self.base.failing & passing_now) + [
            check.key for check in checks if self.base.acceptance.get(check.text) is False
        ]
        weak = tuple(
            check.text
            for check in checks
            if self.phase.task_category is TaskCategory.BUGFIX
            and check.kind is CheckKind.TEST
            and self.base.acceptance.get(check.text) is True
        )
        failures = {}
        if self.phase.task_category is TaskCategory.BUGFIX and not fail_to_pass:
            fail_to_pass = self._new_tests_failing_at_base(launcher)
            if not fail_to_pass:
                failures["bugfix:no-fail-to-pass"] = (
                    "a bugfix phase needs evidence: no acceptance test went from failing to "
                    "passing and no new or changed test fails on the old code. Add a test that "
                    "reproduces the bug (it must fail without the fix), then fix it"
                )
                self.rungs.append(Rung("evidence", False, "no test fails on the old code"))
        return self._result(
            failures,
            full,
            weak=weak,
            fail_to_pass=tuple(fail_to_pass),
            pass_to_pass=len(self.base.passing & passing_now),
            vector=vector,
        )

    def _syntax(self) -> dict[str, str]:
        errors = syntax_errors(self.worktree, self.changed)
        self.rungs.append(Rung("syntax", not errors, "; ".join(errors) or "parsed"))
        return {f"syntax:{line.split(':', 1)[0]}": line for line in errors}

    def _tests_kept(self) -> dict[str, str]:
        if _may_change_tests(self.phase):
            self.rungs.append(Rung("tests-kept", True, "the phase may change tests", skipped=True))
            return {}
        found: list[Weakening] = suite_weakenings(self.changed, self.before, self._after)
        self.rungs.append(
            Rung("tests-kept", not found, "; ".join(w.sentence() for w in found) or "kept")
        )
        return {
            w.key: f"{w.sentence()}: existing tests may not be deleted, skipped or weakened in a "
            f"{self.phase.task_category.value} phase"
            for w in found
        }

    def _after(self, path: str) -> str | None:
        target = self.worktree / path
        return target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None

    def _acceptance(
        self, checks: tuple[AcceptanceCheck, ...], launcher: Launcher | None
    ) -> dict[str, str]:
        if not checks:
            return {}
        runnable: list[AcceptanceCheck] = []
        commands: dict[str, str] = {}
        failures: dict[str, str] = {}
        for number, check in enumerate(checks, 1):
            command = acceptance_command(check, launcher)
            if command is None:
                failures[check.key] = (
                    f"acceptance test {check.text} cannot run: no CI command of the profile "
                    "runs pytest or unittest"
                )
            else:
                runnable.append(check)
                commands[f"acceptance-{number}"] = command
        outcomes = self._run_twice_on_failure(commands, "acceptance")
        for check, outcome in zip(runnable, outcomes, strict=True):
            if not outcome.passed:
                failures[check.key] = (
                    f"acceptance check `{check.text}` fails (exit {outcome.exit_code}"
                    + (", nothing matched it" if outcome.exit_code == NO_TESTS_COLLECTED else "")
                    + "): it must pass after the phase"
                )
                self.outputs.append(f"$ {outcome.command}\n{outcome.output_excerpt[-3000:]}")
        self.rungs.append(
            Rung(
                "acceptance",
                not failures,
                f"{len(checks) - len(failures)} of {len(checks)} passed",
                sum(outcome.seconds for outcome in outcomes),
            )
        )
        return failures

    def _targeted(self, launcher: Launcher | None) -> dict[str, str]:
        tests = affected_tests(self.worktree, self.changed)
        why = _no_targeted_rung(launcher, tests, self.base, len(test_files(self.worktree)))
        if why is not None or launcher is None or not tests:
            self.rungs.append(Rung("targeted", True, why or "", skipped=True))
            return {}
        (outcome,) = self._run_twice_on_failure({"targeted": launcher.command(tests)}, "targeted")
        failing = _failing_tests(outcome)
        new_failures = failing - self.base.failing
        passed = (
            outcome.passed
            or outcome.exit_code == NO_TESTS_COLLECTED
            or (bool(failing) and not new_failures)
        )
        self.rungs.append(Rung("targeted", passed, f"{len(tests)} test file(s)", outcome.seconds))
        if passed:
            return {}
        self.outputs.append(f"$ {outcome.command}\n{outcome.output_excerpt[-3000:]}")
        return {key: "fails" for key in sorted(new_failures)} or {
            f"ci:{launcher.name}": f"the tests of the changed code fail (exit {outcome.exit_code})"
        }

    def _new_tests_failing_at_base(self, launcher: Launcher | None) -> list[str]:
        """Changed or added test files that fail on the old code and pass on the new: the fix's
        own reproduction. Each runs alone, judged by its exit code."""
        files = [
            path for path in self.changed if is_test_file(path) and (self.worktree / path).is_file()
        ]
        if launcher is None or not files:
            return []
        commands = {f"new-test-{n}": launcher.command([path]) for n, path in enumerate(files, 1)}
        now = self._run(commands, "evidence-new")
        checkout, remove = self.base_checkout()
        try:
            for path in files:
                target = checkout / path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.worktree / path, target)
            then = run_profile(
                checkout,
                commands,
                self.sandbox,
                self.limits,
                self.reports,
                label="evidence-base",
                env=self.env_for(checkout),
            )
        finally:
            remove()
        return [
            f"test-file:{path}"
            for path, before, after in zip(files, then, now, strict=True)
            if after.passed and not before.passed
        ]

    def _run_twice_on_failure(
        self, commands: Mapping[str, str], label: str
    ) -> tuple[CommandOutcome, ...]:
        """A command that fails is run again once: passing then, it is flaky, and the full
        profile (which reruns and reports flaky tests) judges it rather than this early rung."""
        first = self._run(commands, label)
        failed = {o.name: o.command for o in first if not o.passed}
        if not failed:
            return first
        again = {o.name: o for o in self._run(failed, f"{label}-rerun")}
        for outcome in first:
            rerun = again.get(outcome.name)
            if rerun is not None and rerun.passed:
                self.flaky += sorted(_failing_tests(outcome)) or [self._command_key(outcome)]
        return tuple(again.get(o.name, o) for o in first)

    def _command_key(self, outcome: CommandOutcome) -> str:
        """A failure without per-test results is the profile command's whose runner ran it."""
        launcher = self.launcher
        name = launcher.name if launcher and outcome.name == "targeted" else outcome.name
        return f"ci:{name}"

    def _run(self, commands: Mapping[str, str], label: str) -> tuple[CommandOutcome, ...]:
        if not commands:
            return ()
        return run_profile(
            self.worktree,
            commands,
            self.sandbox,
            self.limits,
            self.reports,
            label=label,
            env=self.env_for(self.worktree),
        )

    def _result(
        self,
        failures: Mapping[str, str],
        full: VerifyResult | None = None,
        *,
        weak: tuple[str, ...] = (),
        fail_to_pass: tuple[str, ...] = (),
        pass_to_pass: int = 0,
        vector: Mapping[str, str] | None = None,
    ) -> LadderResult:
        return LadderResult(
            rungs=tuple(self.rungs),
            full=full,
            failures=dict(failures),
            weak_acceptance=weak,
            flaky=tuple(self.flaky),
            fail_to_pass=fail_to_pass,
            pass_to_pass=pass_to_pass,
            vector=vector or {},
            output="\n\n".join(self.outputs),
        )


def _no_targeted_rung(
    launcher: Launcher | None, tests: list[str] | None, base: BaseFacts, suite_files: int
) -> str | None:
    """Why the targeted rung would not save time, or None when it runs."""
    if launcher is None:
        return "no pytest or unittest command"
    if tests is None:
        return "the import graph cannot judge"
    if not tests:
        return "no test imports the changed code"
    if launcher.runner is Runner.UNITTEST and base.failing:
        return "unittest reports no per-test results to set the base failures aside"
    if len(tests) * 2 >= suite_files:
        # Measured (bench/verify.py, more-itertools): when the changed code's tests are most of
        # the suite, running them first costs nearly a second full run on every passing attempt.
        return f"the changed code's tests are {len(tests)} of the suite's {suite_files} files"
    return None


def _may_change_tests(phase: PhaseStrategy) -> bool:
    return phase.task_category is TaskCategory.TESTS or phase.test_changes is TestChanges.ALLOWED


def acceptance_command(check: AcceptanceCheck, launcher: Launcher | None) -> str | None:
    if check.kind is CheckKind.COMMAND:
        return check.text
    return launcher.command([check.text]) if launcher is not None else None


def _failing_tests(outcome: CommandOutcome) -> set[str]:
    return {
        f"test:{t.test_id}"
        for t in outcome.tests
        if t.status in (TestStatus.FAILED, TestStatus.ERROR)
    }


def _vector(run: tuple[CommandOutcome, ...]) -> dict[str, str]:
    """Every test's status in the final full run, and each command's when it reported none."""
    vector: dict[str, str] = {}
    for outcome in run:
        for test in outcome.tests:
            vector[f"test:{test.test_id}"] = test.status.value
        vector[f"ci:{outcome.name}"] = "passed" if outcome.passed else "failed"
    return vector
