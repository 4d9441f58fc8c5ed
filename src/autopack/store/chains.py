"""Chains: the runs a plan larger than `run.max_phases` becomes, and where a run stands in its chain.

A chain stores every part's plan when it starts; a part's run exists only once it is started.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from autopack.domain.plan import PlanSpec
from autopack.domain.states import RunState
from autopack.errors import NotFound
from autopack.store.engine import Database
from autopack.store.schema import ProjectRow, RunChainRow, RunRow


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChainLink(_Value):
    """What a part's run records of its chain when it is created."""

    chain_id: str
    part: int  # from 1


class ChainPart(_Value):
    part: int  # from 1
    title: str
    tier_ids: list[str]
    phases: int
    run_id: str | None  # None until the part is started
    state: RunState | None


class RunChain(_Value):
    """A run's place in its chain, with every part of the chain."""

    chain_id: str
    part: int
    of: int
    previous_run_id: str | None
    next_run_id: str | None
    parts: list[ChainPart]
    not_started: list[int]  # the parts with no run yet


def create_chain(
    database: Database,
    chain_id: str,
    project_id: str,
    plan_path: str | None,
    parts: Sequence[PlanSpec],
) -> None:
    with database.transaction() as session:
        if session.get(ProjectRow, project_id) is None:
            session.add(ProjectRow(project_id=project_id))
            session.flush()
        session.add(
            RunChainRow(
                chain_id=chain_id,
                project_id=project_id,
                plan_path=plan_path,
                parts_json=json.dumps([part.model_dump(mode="json") for part in parts]),
            )
        )


def delete_chain_without_runs(database: Database, chain_id: str) -> None:
    """A chain whose first part could not be created is not kept."""
    with database.transaction() as session:
        used = session.scalar(select(RunRow.run_id).where(RunRow.chain_id == chain_id).limit(1))
        row = session.get(RunChainRow, chain_id)
        if used is None and row is not None:
            session.delete(row)


def chain_plans(database: Database, chain_id: str) -> list[PlanSpec]:
    """Every part's plan, in order."""
    with database.reading() as session:
        row = session.get(RunChainRow, chain_id)
        if row is None:
            raise NotFound(f"no chain {chain_id!r}")
        return [PlanSpec.model_validate(part) for part in json.loads(row.parts_json)]


def chain_of(database: Database, run_id: str) -> RunChain | None:
    """The run's chain, or None for a run on its own."""
    with database.reading() as session:
        return chain_in(session, run_id)


def chain_in(session: Session, run_id: str) -> RunChain | None:
    """The run's chain read in the caller's transaction, or None for a run on its own."""
    run = session.get(RunRow, run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}")
    if run.chain_id is None or run.chain_part is None:
        return None
    chain = session.get(RunChainRow, run.chain_id)
    assert chain is not None  # a foreign key
    members = session.execute(
        select(RunRow.chain_part, RunRow.run_id, RunRow.state).where(
            RunRow.chain_id == run.chain_id
        )
    ).all()
    started = {part: (member, RunState(state)) for part, member, state in members}
    plans = [PlanSpec.model_validate(part) for part in json.loads(chain.parts_json)]
    parts = [
        ChainPart(
            part=index,
            title=plan.title,
            tier_ids=[tier.id for tier in plan.tiers],
            phases=len(plan.phases),
            run_id=started[index][0] if index in started else None,
            state=started[index][1] if index in started else None,
        )
        for index, plan in enumerate(plans, start=1)
    ]
    here = run.chain_part

    def run_at(part: int) -> str | None:
        return parts[part - 1].run_id if 1 <= part <= len(parts) else None

    return RunChain(
        chain_id=run.chain_id,
        part=here,
        of=len(parts),
        previous_run_id=run_at(here - 1),
        next_run_id=run_at(here + 1),
        parts=parts,
        not_started=[part.part for part in parts if part.run_id is None],
    )
