"""What the run's base commit does for the verification ladder, measured once before any phase:
each phase's acceptance checks (a test failing there is the bug to fix, never "pre-existing"),
beside the baseline's failing and passing tests of each CI profile."""

from __future__ import annotations

import json
from pathlib import Path

from autopack.domain.strategy import PhaseStrategy
from autopack.issues.atomic_json import write_json_atomic
from autopack.run.baseline import LIMITS, load_baseline, load_baseline_passing
from autopack.run.services import RunServices
from autopack.store.runs import get_run
from autopack.verify.acceptance import runnable_checks
from autopack.verify.environment.registry import prepare_environment
from autopack.verify.ladder import BaseFacts, acceptance_command
from autopack.verify.launchers import launcher_for
from autopack.verify.registry import profile_commands
from autopack.verify.verifier import run_profile

BASE_ACCEPTANCE_FILE = "base_acceptance.json"


def measure_base_acceptance(services: RunServices) -> dict[str, dict[str, bool]]:
    """{phase id: {acceptance check: passed at the base commit}}, also written to a file."""
    run = get_run(services.database, services.run_id)
    base = run.base_commit or services.git.head_commit()
    measured: dict[str, dict[str, bool]] = {}
    phases = [phase for phase in services.strategy.phases if runnable_checks(phase.acceptance)]
    if phases:
        worktree = services.git.detached_worktree(services.run_id, "base-acceptance", base)
        try:
            environment = prepare_environment(
                services.settings, worktree.path, services.sandbox, check=False
            )
            sandbox = services.sandbox.reading(environment.readable)
            for phase in phases:
                launcher = launcher_for(profile_commands(services.settings, phase.ci_profile))
                checks = [
                    (check, acceptance_command(check, launcher))
                    for check in runnable_checks(phase.acceptance)
                ]
                commands = {
                    f"acceptance-{n}": command
                    for n, (_, command) in enumerate(checks, 1)
                    if command is not None
                }
                outcomes = iter(
                    run_profile(
                        worktree.path,
                        commands,
                        sandbox,
                        LIMITS,
                        services.run_dir / "reports" / "baseline",
                        label=f"acceptance-{phase.phase_id}",
                        env=environment.env,
                    )
                )
                measured[phase.phase_id] = {
                    check.text: command is not None and next(outcomes).passed
                    for check, command in checks
                }
        finally:
            services.git.remove_worktree(worktree)
    write_json_atomic(services.run_dir / BASE_ACCEPTANCE_FILE, measured)
    return measured


def load_base_facts(run_dir: Path, phase: PhaseStrategy) -> BaseFacts:
    path = run_dir / BASE_ACCEPTANCE_FILE
    acceptance = (
        json.loads(path.read_text(encoding="utf-8")).get(phase.phase_id, {})
        if path.is_file()
        else {}
    )
    profile = phase.ci_profile.value
    return BaseFacts(
        failing=frozenset(load_baseline(run_dir, profile)),
        passing=frozenset(load_baseline_passing(run_dir, profile)),
        acceptance=acceptance,
    )
