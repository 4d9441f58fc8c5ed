"""Run a CI profile with its preflight retries and a baseline, and decide the gate.

A test that fails and then passes on a rerun is flaky (a minor issue, not a failure); a test
that already fails on the base commit is pre-existing and does not fail the phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from autopack.verify.base import Limits, Sandbox, TestOutcome, TestStatus, minimal_env
from autopack.verify.junit import read_junit

_FAILING = (TestStatus.FAILED, TestStatus.ERROR)


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CommandOutcome(_Value):
    name: str
    command: str
    exit_code: int
    seconds: float
    timed_out: bool
    tests: tuple[TestOutcome, ...]
    output_excerpt: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def failure_keys(self) -> set[str]:
        """Failing tests when the runner reported them; otherwise the command itself."""
        failing = {f"test:{test.test_id}" for test in self.tests if test.status in _FAILING}
        if failing:
            return failing
        return set() if self.passed else {f"ci:{self.name}"}


class VerifyResult(_Value):
    sandbox: str
    runs: tuple[tuple[CommandOutcome, ...], ...]
    failures: tuple[str, ...]
    flaky: tuple[str, ...]
    pre_existing: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def final(self) -> tuple[CommandOutcome, ...]:
        return self.runs[-1]


def _is_pytest(command: str) -> bool:
    return "pytest" in command


def run_profile(
    worktree: Path,
    commands: Mapping[str, str],
    sandbox: Sandbox,
    limits: Limits,
    reports_dir: Path,
    *,
    label: str,
    env: Mapping[str, str] | None = None,
) -> tuple[CommandOutcome, ...]:
    """One pass over the profile's commands, in order, each in the sandbox."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    base_env = dict(env if env is not None else minimal_env())
    outcomes = []
    for name, command in commands.items():
        report = reports_dir / f"{label}-{name}.xml"
        report.unlink(missing_ok=True)
        run_env = dict(base_env)
        if _is_pytest(command):
            run_env["PYTEST_ADDOPTS"] = (
                f"{base_env.get('PYTEST_ADDOPTS', '')} --junitxml={report}".strip()
            )
        result = sandbox.run(
            command, cwd=worktree, writable=[reports_dir], limits=limits, env=run_env
        )
        outcomes.append(
            CommandOutcome(
                name=name,
                command=command,
                exit_code=result.exit_code,
                seconds=result.seconds,
                timed_out=result.timed_out,
                tests=tuple(read_junit(report)),
                output_excerpt=(result.stdout + result.stderr)[-4000:],
            )
        )
    return tuple(outcomes)


def _failures(run: Sequence[CommandOutcome]) -> set[str]:
    return set().union(*(outcome.failure_keys() for outcome in run)) if run else set()


def _passing(run: Sequence[CommandOutcome]) -> set[str]:
    """Tests the runner reported passing, and commands that passed (a runner without a JUnit
    report is judged by its exit code, so its flakiness is the command's)."""
    return {
        f"test:{t.test_id}"
        for outcome in run
        for t in outcome.tests
        if t.status is TestStatus.PASSED
    } | {f"ci:{outcome.name}" for outcome in run if outcome.passed}


def verify(
    worktree: Path,
    commands: Mapping[str, str],
    sandbox: Sandbox,
    limits: Limits,
    reports_dir: Path,
    *,
    baseline_failures: set[str] | None = None,
    max_runs: int = 3,
    env: Mapping[str, str] | None = None,
) -> VerifyResult:
    runs: list[tuple[CommandOutcome, ...]] = []
    for number in range(1, max_runs + 1):
        runs.append(
            run_profile(
                worktree, commands, sandbox, limits, reports_dir, label=f"run{number}", env=env
            )
        )
        # Retries look for flakiness; failures the base commit already had are not worth one.
        if not _failures(runs[-1]) - (baseline_failures or set()):
            break
    ever_failed = set().union(*(_failures(run) for run in runs))
    final_failures = _failures(runs[-1])
    passed_later = set().union(*(_passing(run) for run in runs[1:])) if len(runs) > 1 else set()
    flaky = sorted((ever_failed - final_failures) & (passed_later | _passing(runs[-1])))
    pre_existing = sorted(final_failures & (baseline_failures or set()))
    return VerifyResult(
        sandbox=sandbox.name,
        runs=tuple(runs),
        failures=tuple(sorted(final_failures - set(pre_existing))),
        flaky=tuple(flaky),
        pre_existing=tuple(pre_existing),
    )
