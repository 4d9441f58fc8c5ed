"""What is checked before a run exists: a run that cannot work is refused before any run record,
branch, worktree or paid call, with one sentence saying what to fix."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path

from autopack.config import Settings
from autopack.domain.strategy import Strategy
from autopack.domain.vocabulary import CIProfile
from autopack.errors import ConfigError
from autopack.llm.keys import api_key
from autopack.processes import executor_dead
from autopack.run.baseline import ProfileBaseline, measure_profile, refuse_broken
from autopack.run.services import RunOptions
from autopack.verify.acceptance import CheckKind, runnable_checks
from autopack.verify.environment.base import Progress
from autopack.verify.launchers import launcher_for
from autopack.verify.registry import profile_commands, sandbox_for
from autopack.workspace.base import GitAdapter
from autopack.workspace.registry import git_for


def check_replay(options: RunOptions) -> None:
    replay = options.replay_file
    if replay is not None and not replay.is_file():
        raise ConfigError(f"--llm replay:{replay}: no such cassette file")


def check_keys(
    settings: Settings, aliases: Iterable[str], env: Mapping[str, str], needed_for: str
) -> None:
    """Every alias a run will call has its key (a cassette needs none)."""
    missing: dict[str, list[str]] = {}
    for name in sorted(set(aliases)):
        alias = settings.aliases[name]
        if alias.api_key_env is not None and api_key(alias, env) is None:
            missing.setdefault(alias.api_key_env, []).append(name)
    if missing:
        unset = "; ".join(
            f"{variable} is not set (alias {', '.join(names)})"
            for variable, names in missing.items()
        )
        raise ConfigError(
            f"{unset}: {needed_for} needs it. Set the variable (or {{NAME}}_FILE naming a file "
            "that holds it) or route those roles to another alias"
        )


def routed_aliases(strategy: Strategy, options: RunOptions) -> set[str]:
    """The aliases the run's phases will call: --llm's for every role, else each phase's routing."""
    if options.forced_alias is not None:
        return {options.forced_alias}
    return {alias for phase in strategy.phases for alias in phase.models.values()}


def check_ci(settings: Settings, strategies: Iterable[Strategy]) -> None:
    """Every phase's CI profile has commands, and acceptance tests have a runner to run them."""
    for strategy in strategies:
        for phase in strategy.phases:
            commands = profile_commands(settings, phase.ci_profile)
            tests = [c for c in runnable_checks(phase.acceptance) if c.kind is CheckKind.TEST]
            if tests and launcher_for(commands) is None:
                raise ConfigError(
                    f"phase {phase.phase_id} names acceptance test {tests[0].text}, but no "
                    f"command of the {phase.ci_profile.value} CI profile runs pytest or unittest "
                    "to run it: add one, or write the check as a command (`$ <command>`)"
                )


PREFLIGHT = "preflight-"


def _clear_dead_preflights(git: GitAdapter, worktree_root: Path) -> None:
    """The worktrees of a preflight whose process was killed: no run owns them, so nobody else
    would ever remove them."""
    for folder in sorted(worktree_root.glob(f"{PREFLIGHT}*")):
        pid = folder.name.removeprefix(PREFLIGHT).partition("-")[0]
        if pid.isdigit() and executor_dead(f"{socket.gethostname()}-{pid}"):
            git.remove_run_worktrees(folder.name)


def check_base(
    settings: Settings,
    options: RunOptions,
    strategies: Iterable[Strategy],
    base_commit: str,
    reports: Path,
    on_progress: Progress,
) -> dict[CIProfile, ProfileBaseline]:
    """The sandbox, the project's environment and each CI profile on the base commit: refused
    here (ProjectEnvironmentError, BrokenAtBase) rather than after a run and a branch exist."""
    sandbox = sandbox_for(options.no_sandbox, settings)
    git = git_for(settings)
    profiles = sorted({phase.ci_profile for s in strategies for phase in s.phases})
    _clear_dead_preflights(git, settings.worktree_root)
    # Named by its process, so a later preflight knows whether it was left by a dead one.
    group = f"{PREFLIGHT}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        measured = {
            profile: measure_profile(
                settings,
                git,
                sandbox,
                base=base_commit,
                profile=profile,
                group=group,
                reports=reports / profile.value,
                on_progress=on_progress,
            )
            for profile in profiles
        }
    finally:
        git.remove_run_worktrees(group)  # its folder too: nothing is left behind
    refuse_broken(measured)
    return measured
