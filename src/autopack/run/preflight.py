"""What is checked before a run exists: a run that cannot work is refused before any run record,
branch, worktree or paid call, with one sentence saying what to fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from autopack.config import Settings
from autopack.domain.strategy import Strategy
from autopack.errors import ConfigError
from autopack.llm.keys import api_key
from autopack.run.services import RunOptions


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
