"""What the base commit does, per CI profile, measured once before any phase is paid for.

A test failing there is pre-existing: the Verifier does not blame a phase for it. A command that
fails there as a whole, without naming a failing test (a missing linter, exit 127; a runner that
collects nothing), would fail every phase for a reason no phase can fix, so it stops the run here:
`autopack run` measures this before the run exists (run/preflight.py) and hands the result over;
a run created another way (the API, a chain's later part) measures it as its first step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from autopack.config import Settings
from autopack.domain.vocabulary import CIProfile
from autopack.errors import ConfigError
from autopack.issues.atomic_json import write_json_atomic
from autopack.run.artefacts import BASELINE_FILE
from autopack.run.events import BaselineMeasured
from autopack.run.services import RunServices
from autopack.store.runs import get_run
from autopack.verify.base import Limits, Sandbox, TestStatus
from autopack.verify.environment.base import Progress, no_progress
from autopack.verify.environment.registry import prepare_environment
from autopack.verify.registry import profile_commands
from autopack.verify.verifier import CommandOutcome, run_profile
from autopack.workspace.base import GitAdapter

TEST_KEY = "test:"
BASELINE_PASSING_FILE = "baseline_passing.json"
LIMITS = Limits(wall_seconds=600)
_FAILING = (TestStatus.FAILED, TestStatus.ERROR)


@dataclass(frozen=True)
class ProfileBaseline:
    failing: tuple[str, ...]  # test keys
    passing: tuple[str, ...]
    # Commands that failed as a whole, naming no failing test.
    broken: tuple[CommandOutcome, ...] = ()


class BrokenAtBase(ConfigError):
    """A CI command fails on the base commit for a reason no phase can fix: the configuration
    (or the repository) needs fixing before a run can judge anything."""


def measure_profile(
    settings: Settings,
    git: GitAdapter,
    sandbox: Sandbox,
    *,
    base: str,
    profile: CIProfile,
    group: str,
    reports: Path,
    on_progress: Progress = no_progress,
) -> ProfileBaseline:
    """The profile's commands on a throwaway checkout of `base`, in the project's environment
    (built here if needed; refused if it would not import the checkout's own code)."""
    worktree = git.detached_worktree(group, f"baseline-{profile.value}", base)
    try:
        commands = profile_commands(settings, profile)
        environment = prepare_environment(
            settings,
            worktree.path,
            sandbox,
            check=True,
            commands=commands.values(),
            on_progress=on_progress,
        )
        on_progress(f"running the {profile.value} CI profile on the base commit")
        outcomes = run_profile(
            worktree.path,
            commands,
            sandbox.reading(environment.readable),
            LIMITS,
            reports,
            label="baseline",
            env=environment.env,
        )
    finally:
        git.remove_worktree(worktree)
    tests = [test for outcome in outcomes for test in outcome.tests]
    return ProfileBaseline(
        failing=tuple(sorted(f"{TEST_KEY}{t.test_id}" for t in tests if t.status in _FAILING)),
        passing=tuple(
            sorted(f"{TEST_KEY}{t.test_id}" for t in tests if t.status is TestStatus.PASSED)
        ),
        broken=tuple(
            outcome
            for outcome in outcomes
            if not outcome.passed and not any(t.status in _FAILING for t in outcome.tests)
        ),
    )


def refuse_broken(measured: dict[CIProfile, ProfileBaseline]) -> None:
    broken = [outcome for baseline in measured.values() for outcome in baseline.broken]
    if not broken:
        return
    first = broken[0]
    why = "timed out" if first.timed_out else f"exit {first.exit_code}"
    tail = first.output_excerpt.strip()[-1500:] or "(no output)"
    raise BrokenAtBase(
        f"CI command {first.name!r} (`{first.command}`) fails on the base commit before any "
        f"change ({why}) without naming a failing test, so it would fail every phase: fix it in "
        f"autopack.toml or the repository first. Its output ends:\n{tail}"
        + (
            f"\n(and {len(broken) - 1} more command(s) fail the same way)"
            if len(broken) > 1
            else ""
        )
    )


def write_baseline(run_dir: Path, measured: dict[CIProfile, ProfileBaseline]) -> None:
    # baseline.json (failing tests) is written last: its presence means the measure is complete.
    write_json_atomic(
        run_dir / BASELINE_PASSING_FILE,
        {profile.value: list(b.passing) for profile, b in sorted(measured.items())},
    )
    write_json_atomic(
        run_dir / BASELINE_FILE,
        {profile.value: list(b.failing) for profile, b in sorted(measured.items())},
    )


def measure_baseline(services: RunServices) -> dict[str, list[str]]:
    """{CI profile: failing test keys at the base commit}, from the preflight when it measured
    them (baseline.json already in the run's folder), else measured now."""
    path = services.run_dir / BASELINE_FILE
    if not path.is_file():
        run = get_run(services.database, services.run_id)
        base = run.base_commit or services.git.head_commit()
        measured = {
            profile: measure_profile(
                services.settings,
                services.git,
                services.sandbox,
                base=base,
                profile=profile,
                group=services.run_id,
                reports=services.run_dir / "reports" / "baseline" / profile.value,
            )
            for profile in sorted({phase.ci_profile for phase in services.strategy.phases})
        }
        refuse_broken(measured)
        write_baseline(services.run_dir, measured)
    failing: dict[str, list[str]] = json.loads(path.read_text(encoding="utf-8"))
    services.emit(
        BaselineMeasured(failing={profile: len(keys) for profile, keys in failing.items()})
    )
    return failing


def load_baseline(run_dir: Path, profile: str) -> set[str]:
    path = run_dir / BASELINE_FILE
    if not path.exists():
        return set()
    return set(json.loads(path.read_text(encoding="utf-8")).get(profile, []))


def load_baseline_passing(run_dir: Path, profile: str) -> set[str]:
    path = run_dir / BASELINE_PASSING_FILE
    if not path.exists():
        return set()
    return set(json.loads(path.read_text(encoding="utf-8")).get(profile, []))
