"""PLAN_BOOTSTRAP's first half: the plan a run starts from, parsed or rewritten by the planner.

The catalogs' half (stack profile, reuse) happens when the strategy is compiled (run/create.py).
"""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal
from pathlib import Path

from pydantic_ai.models import Model

from autopack.config import Settings
from autopack.domain.plan import PlanSpec
from autopack.domain.vocabulary import Complexity, Role
from autopack.errors import PlanError
from autopack.issues.atomic_json import write_json_atomic
from autopack.llm.budget import BudgetLedger, Cap, Level
from autopack.llm.budgeted import CallContext
from autopack.llm.keys import redactor_for
from autopack.llm.recorders import MemoryRecorder
from autopack.llm.replay import RecordingModel
from autopack.llm.resilience import CircuitBreakers
from autopack.llm.transcripts import TranscriptWriter
from autopack.plan.load import FreeFormPlan, load_plan
from autopack.plan.mask import plan_redactor
from autopack.plan.planner import normalise_plan
from autopack.plan.render_markdown import render_markdown
from autopack.run.preflight import check_keys
from autopack.run.services import CASSETTE_FILE, RunOptions, budgeted_model

NORMALISED_PLAN_FILE = "normalised_plan.md"
# The planner's calls when no run row came to exist to hold them in the ledger.
UNSTORED_CALLS_FILE = "planner_calls.json"


def plan_for_run(
    settings: Settings, plan_file: Path, options: RunOptions, run_id: str
) -> tuple[PlanSpec, MemoryRecorder]:
    """The run's plan, and the planner's calls to store once the run exists (none if it parsed)."""
    try:
        plan = load_plan(plan_file, redactor=plan_redactor(settings.aliases))
    except FreeFormPlan as free_form:
        if not free_form.text.strip():
            # Nothing to normalise: the planner would only invent a plan, and be paid for it.
            raise PlanError("the plan is empty", path=plan_file) from None
        plan, calls = _normalised_by_planner(settings, free_form, options, run_id)
        # Kept beside the run, so what the Builders worked from can be read and edited into a plan.
        normalised = settings.runs_dir / run_id / NORMALISED_PLAN_FILE
        normalised.parent.mkdir(parents=True, exist_ok=True)
        normalised.write_text(render_markdown(plan), encoding="utf-8")
        return plan, calls
    return plan, MemoryRecorder()


def _normalised_by_planner(
    settings: Settings, plan: FreeFormPlan, options: RunOptions, run_id: str
) -> tuple[PlanSpec, MemoryRecorder]:
    """Phase 0 for a free-form plan: the planner's rewrite, paid for against the run's cap."""
    name = options.forced_alias or settings.routing.alias_for(
        Role.PLANNER, Complexity.MEDIUM, high_risk=False
    )
    if options.replay_file is None:
        check_keys(settings, [name], os.environ, "the planner (the plan has no '## Tier' headings)")
    ledger = BudgetLedger()
    limits = settings.ruleset.run
    ledger.set_cap((Level.RUN, run_id), Cap(limits.token_cap, limits.usd_cap))
    recorder = MemoryRecorder()
    env = dict(os.environ)
    model: Model = budgeted_model(
        name,
        settings=settings,
        options=options,
        env=env,
        ledger=ledger,
        context=CallContext(run_id, Role.PLANNER),
        recorder=recorder,
        transcripts=TranscriptWriter(
            settings.runs_dir, run_id, redactor_for(settings.aliases, env)
        ),
        breakers=CircuitBreakers(),
    )
    if options.record and options.replay_file is None:
        model = RecordingModel(model, settings.runs_dir / run_id / CASSETTE_FILE)
    source = plan.path or "plan"
    try:
        normalised = normalise_plan(
            plan.text, source, model, redactor=plan_redactor(settings.aliases)
        )
        return asyncio.run(normalised), recorder
    except PlanError as error:
        raise PlanError(
            f"{error.detail}{unstored_calls_note(settings, run_id, recorder)}", path=error.path
        ) from None


def unstored_calls_note(settings: Settings, run_id: str, recorder: MemoryRecorder) -> str:
    """Keep the paid planner calls of a run that will not exist, and say where they are."""
    if not recorder.calls:
        return ""
    path = settings.runs_dir / run_id / UNSTORED_CALLS_FILE
    write_json_atomic(path, [call.model_dump(mode="json") for call in recorder.calls])
    usd = sum((call.usd for call in recorder.calls), Decimal(0))
    return (
        f" (no run was created; the planner's {len(recorder.calls)} paid call(s), ${usd:.4f}, "
        f"are recorded in {path})"
    )
