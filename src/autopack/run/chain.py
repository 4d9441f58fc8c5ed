"""A plan larger than one run: its parts run one after another, each a normal run created from the
previous part's integration head, and only after the previous part ended DONE_SUCCESS.

`autopack run` creates the chain and its first part (run/execute.py); from then on, whichever
process drives a part (the first `autopack run`, or `autopack resume` of any part) carries the chain
on: the next part's run is created when it is about to start, so parts not yet started have no run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from autopack.config import Settings, thaw_settings
from autopack.domain.states import RunState
from autopack.run.create import create_run_from_plan, new_run_id, strategy_for
from autopack.run.durable import Listener
from autopack.run.execute import RunEnd, execute_run
from autopack.run.preflight import check_keys, routed_aliases
from autopack.run.services import RunOptions
from autopack.store.chains import ChainLink, RunChain, chain_of, chain_plans
from autopack.store.engine import Database, open_database
from autopack.store.issue_records import load_backlog
from autopack.store.queue import saved_options
from autopack.store.runs import frozen_settings, get_run
from autopack.workspace.registry import git_for


@dataclass(frozen=True)
class ChainStop:
    """A part that did not end DONE_SUCCESS, so the parts after it were not started."""

    part: int
    of: int
    end: RunEnd
    not_started: tuple[int, ...]

    def sentence(self) -> str:
        later = ", ".join(str(part) for part in self.not_started)
        return (
            f"the chain stopped at part {self.part}/{self.of} (run {self.end.run_id}): it ended "
            f"{self.end.state.value}"
            + (f" ({self.end.message})" if self.end.message else "")
            + f"; part(s) {later} were not started"
        )


def carry_chain_on(
    settings: Settings,
    end: RunEnd,
    listener: Listener | None = None,
    on_part_end: Callable[[RunEnd, RunChain], None] | None = None,
) -> tuple[RunEnd, ChainStop | None]:
    """After a part ended: drive each later part of its chain to its end while the one before
    ended DONE_SUCCESS. The last part's end, and why the chain stopped early, if it did."""
    while True:
        chain = _chain(settings, end.run_id)
        if chain is None:
            return end, None
        if on_part_end is not None:
            on_part_end(end, chain)
        if end.state is not RunState.DONE_SUCCESS:
            return end, _stop(chain, end)
        if chain.part == chain.of:
            return end, None
        run_id, options = _next_part(settings, end.run_id, chain)
        end = execute_run(settings, run_id, options, listener, resume=True)


def _stop(chain: RunChain, end: RunEnd) -> ChainStop | None:
    later = tuple(part for part in chain.not_started if part > chain.part)
    if not later:
        return None
    return ChainStop(part=chain.part, of=chain.of, end=end, not_started=later)


def _chain(settings: Settings, run_id: str) -> RunChain | None:
    database = open_database(settings.database_url)
    try:
        return chain_of(database, run_id)
    finally:
        database.close()


def _next_part(settings: Settings, previous_id: str, chain: RunChain) -> tuple[str, RunOptions]:
    """The run of the part after `previous_id`, created now if it was not yet (with the options
    and settings the previous part ran with); a part already created is resumed as it is."""
    database = open_database(settings.database_url)
    try:
        following = chain.parts[chain.part]
        if following.run_id is not None:
            return following.run_id, _options(database, following.run_id)
        options = _options(database, previous_id)
        return _create_part(database, settings, previous_id, chain, options), options
    finally:
        database.close()


def _options(database: Database, run_id: str) -> RunOptions:
    return RunOptions.model_validate_json(saved_options(database, run_id) or "{}")


def _create_part(
    database: Database,
    current: Settings,
    previous_id: str,
    chain: RunChain,
    options: RunOptions,
) -> str:
    """Part k+1's run: its base is part k's integration head, its settings those part k froze."""
    previous = get_run(database, previous_id)
    frozen = frozen_settings(database, previous_id)
    settings = thaw_settings(frozen, current) if frozen else current
    plan = chain_plans(database, chain.chain_id)[chain.part]
    git = git_for(settings)
    base_commit = git.head_commit(git.integration_branch(previous_id))
    run_id = new_run_id()
    if options.replay_file is None:
        # Checked again, since the chain started: a key may have gone meanwhile.
        compiled = strategy_for(settings, plan, run_id=run_id)
        check_keys(settings, routed_aliases(compiled, options), os.environ, "this part")
    create_run_from_plan(
        settings,
        database,
        plan,
        backlog=load_backlog(database, settings.project.id),
        # The branch the chain started from stays where its parts are promoted.
        base_branch=previous.base_branch,
        base_commit=base_commit,
        sandbox=previous.sandbox,
        run_id=run_id,
        chain=ChainLink(chain_id=chain.chain_id, part=chain.part + 1),
        options_json=options.model_dump_json(),
    )
    return run_id
