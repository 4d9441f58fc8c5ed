"""What already fails at the run's base commit, per CI profile, measured once before any phase.

A test failing there is pre-existing: the Verifier does not blame a phase for it. Only failures
named by test id count; a command that fails as a whole at the base would otherwise hide every
new failure of that command, so it is left to fail phases as it did before.
"""

from __future__ import annotations

import json
from pathlib import Path

from autopack.issues.atomic_json import write_json_atomic
from autopack.run.artefacts import BASELINE_FILE
from autopack.run.events import BaselineMeasured
from autopack.run.services import RunServices
from autopack.store.runs import get_run
from autopack.verify.base import Limits, TestStatus
from autopack.verify.environment.registry import prepare_environment
from autopack.verify.junit import read_junit
from autopack.verify.registry import profile_commands
from autopack.verify.verifier import baseline_failures

TEST_KEY = "test:"
BASELINE_PASSING_FILE = "baseline_passing.json"
LIMITS = Limits(wall_seconds=600)


def measure_baseline(services: RunServices) -> dict[str, list[str]]:
    """{CI profile: failing test keys at the base commit}, also written to baseline.json."""
    run = get_run(services.database, services.run_id)
    base = run.base_commit or services.git.head_commit()
    measured: dict[str, list[str]] = {}
    passing: dict[str, list[str]] = {}
    for profile in sorted({phase.ci_profile for phase in services.strategy.phases}):
        worktree = services.git.detached_worktree(
            services.run_id, f"baseline-{profile.value}", base
        )
        try:
            # The project's environment is built here, once per run, and before the first
            # attempt the run is refused if it would not import the worktree's own code.
            commands = profile_commands(services.settings, profile)
            environment = prepare_environment(
                services.settings,
                worktree.path,
                services.sandbox,
                check=True,
                commands=commands.values(),
            )
            failing = baseline_failures(
                worktree.path,
                commands,
                services.sandbox.reading(environment.readable),
                LIMITS,
                services.run_dir / "reports" / "baseline" / profile.value,
                env=environment.env,
            )
        finally:
            services.git.remove_worktree(worktree)
        measured[profile.value] = sorted(key for key in failing if key.startswith(TEST_KEY))
        passing[profile.value] = _passing_reported(
            services.run_dir / "reports" / "baseline" / profile.value
        )
    write_json_atomic(services.run_dir / BASELINE_FILE, measured)
    write_json_atomic(services.run_dir / BASELINE_PASSING_FILE, passing)
    services.emit(
        BaselineMeasured(failing={profile: len(keys) for profile, keys in measured.items()})
    )
    return measured


def load_baseline(run_dir: Path, profile: str) -> set[str]:
    path = run_dir / BASELINE_FILE
    if not path.exists():
        return set()
    return set(json.loads(path.read_text(encoding="utf-8")).get(profile, []))


def _passing_reported(reports: Path) -> list[str]:
    """The tests the baseline's runners reported passing (the pass-to-pass side of a phase)."""
    return sorted(
        f"{TEST_KEY}{test.test_id}"
        for report in reports.glob("baseline-*.xml")
        for test in read_junit(report)
        if test.status is TestStatus.PASSED
    )


def load_baseline_passing(run_dir: Path, profile: str) -> set[str]:
    path = run_dir / BASELINE_PASSING_FILE
    if not path.exists():
        return set()
    return set(json.loads(path.read_text(encoding="utf-8")).get(profile, []))
