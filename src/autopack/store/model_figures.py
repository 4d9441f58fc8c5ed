"""What each model alias has achieved, per task category and complexity: the Builder's record.

Read from tables that already exist (phases, runs, attempts, llm_calls); nothing is stored.
Definitions (docs/llm.md, "Learned routing"):

- Only phases that ended count: COMPLETE (success: the phase committed) or FAILED. A phase still
  running, queued or skipped says nothing about a model yet.
- Every Builder ledger row (role builder) of such a phase is put on an alias by its provider and
  model: the alias its attempt was routed to when that alias resolves to the row's provider and
  model, else the one alias that does; rows no configured alias resolves to are left out and
  counted as unmapped (a renamed or removed alias).
- An alias took part in a phase when it served at least one of those rows: `phases`.
  `attempts` counts the distinct Builder attempts it served a call in.
- A phase is a success of the alias that served its last Builder call (the work that
  committed); an alias that failed before an escalation carries that phase as a failure.
- `usd` and `tokens` (input + output) are everything the alias's rows cost in those phases,
  failed attempts included: USD per successful phase = usd / successes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from sqlalchemy import and_, select

from autopack.domain.states import PhaseState
from autopack.domain.vocabulary import Role
from autopack.llm.aliases import ModelAlias
from autopack.store.engine import Database
from autopack.store.schema import AttemptRow, LlmCallRow, PhaseRow, RunRow

ENDED_PHASE_STATES = (PhaseState.COMPLETE.value, PhaseState.FAILED.value)


@dataclass(frozen=True)
class ModelFigures:
    """One alias's Builder record for one task category and complexity."""

    alias: str
    task_category: str
    complexity: str
    phases: int
    attempts: int
    successes: int
    usd: Decimal
    tokens: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.phases if self.phases else 0.0

    @property
    def usd_per_success(self) -> Decimal | None:
        return (self.usd / self.successes).quantize(Decimal("0.000001")) if self.successes else None

    @property
    def tokens_per_success(self) -> int | None:
        return round(self.tokens / self.successes) if self.successes else None


@dataclass(frozen=True)
class ModelHistory:
    figures: tuple[ModelFigures, ...]
    unmapped_calls: int = 0

    def get(self, alias: str, task_category: str, complexity: str) -> ModelFigures | None:
        return self._index.get((alias, task_category, complexity))

    @cached_property
    def _index(self) -> dict[tuple[str, str, str], ModelFigures]:
        return {(f.alias, f.task_category, f.complexity): f for f in self.figures}


@dataclass
class _Tally:
    phases: set[tuple[str, str]] = field(default_factory=set)
    attempts: set[tuple[str, str, int | None]] = field(default_factory=set)
    successes: int = 0
    usd: Decimal = Decimal(0)
    tokens: int = 0


def model_history(
    database: Database, aliases: dict[str, ModelAlias], project_id: str | None = None
) -> ModelHistory:
    """The Builder's record of every alias in `aliases`, from the ended phases of `project_id`'s
    runs (every project's when None)."""
    by_model: dict[tuple[str, str], list[str]] = {}
    for name, alias in sorted(aliases.items()):
        by_model.setdefault((str(alias.provider.value), alias.model), []).append(name)
    query = (
        select(
            LlmCallRow.run_id,
            LlmCallRow.phase_id,
            LlmCallRow.attempt,
            LlmCallRow.provider,
            LlmCallRow.model,
            LlmCallRow.input_tokens,
            LlmCallRow.output_tokens,
            LlmCallRow.usd,
            PhaseRow.task_category,
            PhaseRow.complexity,
            PhaseRow.state,
            AttemptRow.model_alias,
        )
        .join(
            PhaseRow,
            and_(PhaseRow.run_id == LlmCallRow.run_id, PhaseRow.phase_id == LlmCallRow.phase_id),
        )
        .join(RunRow, RunRow.run_id == LlmCallRow.run_id)
        .outerjoin(
            AttemptRow,
            and_(
                AttemptRow.run_id == LlmCallRow.run_id,
                AttemptRow.phase_id == LlmCallRow.phase_id,
                AttemptRow.role == Role.BUILDER.value,
                AttemptRow.number == LlmCallRow.attempt,
            ),
        )
        .where(LlmCallRow.role == Role.BUILDER.value, PhaseRow.state.in_(ENDED_PHASE_STATES))
        .order_by(LlmCallRow.id)
    )
    if project_id is not None:
        query = query.where(RunRow.project_id == project_id)
    tallies: dict[tuple[str, str, str], _Tally] = {}
    last_alias: dict[tuple[str, str], tuple[str, str, str]] = {}
    committed: set[tuple[str, str]] = set()
    unmapped = 0
    with database.reading() as session:
        rows = session.execute(query).all()
    for row in rows:
        candidates = by_model.get((row.provider, row.model), [])
        if row.model_alias in candidates:
            alias_name = row.model_alias
        elif len(candidates) == 1:
            alias_name = candidates[0]
        else:
            unmapped += 1
            continue
        phase = (row.run_id, row.phase_id)
        key = (alias_name, row.task_category, row.complexity)
        tally = tallies.setdefault(key, _Tally())
        tally.phases.add(phase)
        tally.attempts.add((*phase, row.attempt))
        tally.usd += Decimal(str(row.usd))
        tally.tokens += row.input_tokens + row.output_tokens
        last_alias[phase] = key
        if row.state == PhaseState.COMPLETE.value:
            committed.add(phase)
    for phase in committed:
        tallies[last_alias[phase]].successes += 1
    figures = tuple(
        ModelFigures(
            alias=alias,
            task_category=category,
            complexity=complexity,
            phases=len(tally.phases),
            attempts=len(tally.attempts),
            successes=tally.successes,
            usd=tally.usd,
            tokens=tally.tokens,
        )
        for (alias, category, complexity), tally in sorted(tallies.items())
    )
    return ModelHistory(figures=figures, unmapped_calls=unmapped)
