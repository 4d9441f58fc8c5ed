"""What a run's steps work with: settings, store, git, sandbox, the budget ledger and its models.

Built once per process from the run's stored strategy and the options it was started with, so a
process that resumes a run composes exactly what the one that started it did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_ai.models import Model

from autopack.builder.agent import AgentBuilder
from autopack.builder.base import Builder
from autopack.builder.external.registry import ADAPTERS
from autopack.builder.external.runner import ExternalBuilder
from autopack.config import Settings, load_settings, thaw_settings
from autopack.domain.issues import PhaseIssue
from autopack.domain.strategy import PhaseStrategy, Strategy
from autopack.domain.vocabulary import BuilderName, IssueState, Role
from autopack.errors import ConfigError
from autopack.issues.phase_issue_file import PhaseIssueFile, phase_issue_file
from autopack.issues.record import RecordedIssues, record_issues
from autopack.llm.budget import BudgetLedger, Cap, Level, scopes_of
from autopack.llm.budgeted import BudgetedModel, CallContext, CallRecorder
from autopack.llm.checkpoint import CheckpointedModel
from autopack.llm.keys import api_key, redactor_for
from autopack.llm.providers import build_model
from autopack.llm.recorders import DatabaseRecorder, ledger_from_database
from autopack.llm.redact import Redactor
from autopack.llm.replay import RecordingModel, ReplayModel
from autopack.llm.resilience import CircuitBreakers, LLMEvent, ResilientModel
from autopack.llm.transcripts import TranscriptWriter
from autopack.llm.worst_case import worst_case
from autopack.run.events import IssuesRecorded, ModelEvent, ProgressEvent
from autopack.store.engine import Database, database_url_for, open_database
from autopack.store.issue_records import load_backlog
from autopack.store.progress import record_progress
from autopack.store.runs import frozen_settings, get_run
from autopack.verify.base import Sandbox, minimal_env
from autopack.verify.registry import sandbox_for
from autopack.workspace.base import GitAdapter
from autopack.workspace.registry import git_for

REPLAY_PREFIX = "replay:"
CASSETTE_FILE = "cassette.jsonl"


class RunOptions(BaseModel):
    """How a run was started; stored with its workflow so a resume composes the same run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    llm: str | None = None  # an alias for every role, or replay:FILE
    no_sandbox: bool = False
    record: bool = True  # keep the run's model answers as a cassette, to replay incidents

    @property
    def replay_file(self) -> Path | None:
        if self.llm and self.llm.startswith(REPLAY_PREFIX):
            return Path(self.llm.removeprefix(REPLAY_PREFIX))
        return None

    @property
    def forced_alias(self) -> str | None:
        return None if self.llm is None or self.replay_file else self.llm


Listener = Callable[[dict[str, Any]], None]
# Whoever watches this process's runs (the CLI's live view); services made later still tell them.
PROCESS_LISTENERS: list[Listener] = []


@dataclass
class RunServices:
    run_id: str
    settings: Settings
    database: Database
    strategy: Strategy
    options: RunOptions
    git: GitAdapter
    sandbox: Sandbox
    ledger: BudgetLedger
    redactor: Redactor
    env: dict[str, str]
    breakers: CircuitBreakers = field(default_factory=CircuitBreakers)
    listeners: list[Listener] = field(default_factory=lambda: PROCESS_LISTENERS)

    @property
    def run_dir(self) -> Path:
        return self.settings.runs_dir / self.run_id

    def emit(self, event: ProgressEvent) -> None:
        """Progress for whoever watches: stored for the API's streams, told to this process's
        listeners (the CLI's live view) with the stored id."""
        details = event.details()
        event_id = record_progress(self.database, self.run_id, event.kind, details)
        message = {**details, "kind": event.kind, "run_id": self.run_id, "id": event_id}
        for listener in list(self.listeners):
            listener(message)

    def phase(self, phase_id: str) -> PhaseStrategy:
        for phase in self.strategy.phases:
            if phase.phase_id == phase_id:
                return phase
        raise KeyError(phase_id)

    def issue_file(self, phase: PhaseStrategy) -> PhaseIssueFile:
        """The issues the phase raised so far in this run (an empty file before the first)."""
        return phase_issue_file(
            self.settings.runs_dir, self.run_id, phase.tier_id, phase.phase_id, phase.position
        )

    def record_issues(self, phase: PhaseStrategy, issues: Sequence[PhaseIssue]) -> RecordedIssues:
        """The one way the run's outcomes become issues: test, CI and static-check failures,
        flaky tests, policy refusals, the Builder's notes and the Auditor's findings.

        A key already open in another phase of the run or in the project backlog is merged as the
        same problem seen again, not raised as a new one.
        """
        elsewhere = {
            issue.issue_key
            for other in self.strategy.phases
            if other.phase_id != phase.phase_id
            for issue in self.issue_file(other).open_issues
        }
        elsewhere |= {
            entry.issue_key
            for entry in load_backlog(self.database, self.strategy.project_id)
            if entry.issue_state is IssueState.OPEN
        }
        recorded = record_issues(self.settings.runs_dir, self.run_id, phase, issues, elsewhere)
        if issues:
            self.emit(
                IssuesRecorded(
                    phase=phase.phase_id, raised=list(recorded.raised), merged=list(recorded.merged)
                )
            )
        return recorded

    def alias_name(self, phase: PhaseStrategy, role: Role, *, escalate: bool = False) -> str:
        """The phase's alias for the role; one level up when the last attempt made no progress
        (never past the top, never beyond the phase's budget, never away from --llm's alias)."""
        if self.options.forced_alias:
            return self.options.forced_alias
        routed = phase.models[role]
        stronger = self.settings.routing.escalated(routed) if escalate else None
        if stronger is None or stronger not in self.settings.aliases:
            return routed
        # Only if one call of the stronger model still fits what the phase has left: a switch
        # the budget cannot carry would end the run instead of giving it a better chance.
        needed = worst_case(self.settings.aliases[stronger], [])
        left = self.ledger.remaining((Level.PHASE, phase.phase_id))
        if needed.tokens > left.tokens or needed.usd > left.usd:
            return routed
        return stronger

    def model_for(
        self, phase: PhaseStrategy, role: Role, attempt: int, *, escalate: bool = False
    ) -> Model:
        """Checkpointed -> recorded -> resilient -> budgeted -> provider (or cassette)."""
        model = budgeted_model(
            self.alias_name(phase, role, escalate=escalate),
            settings=self.settings,
            options=self.options,
            env=self.env,
            ledger=self.ledger,
            context=CallContext(self.run_id, role, phase.tier_id, phase.phase_id, attempt),
            recorder=DatabaseRecorder(self.database),
            transcripts=TranscriptWriter(self.settings.runs_dir, self.run_id, self.redactor),
            breakers=self.breakers,
            on_event=self._llm_event,
        )
        if self.options.record and self.options.replay_file is None:
            model = RecordingModel(model, self.run_dir / CASSETTE_FILE)
        return CheckpointedModel(
            model,
            database=self.database,
            run_id=self.run_id,
            conversation=f"{phase.phase_id}/{role.value}/{attempt}",
        )

    def builder_for(self, phase: PhaseStrategy, attempt: int, *, escalate: bool = False) -> Builder:
        """Autopack's agent, or the external CLI the phase names, billed to the same ledger."""
        if phase.builder is BuilderName.AUTOPACK:
            return AgentBuilder(
                self.model_for(phase, Role.BUILDER, attempt, escalate=escalate),
                sandbox=self.sandbox,
                policy=self.settings.policy,
                redactor=self.redactor,
                env=minimal_env(),
            )
        if self.options.replay_file is not None:
            raise ConfigError(
                f"phase {phase.phase_id} is built by {phase.builder}, an external CLI, whose "
                "answers a cassette cannot replay"
            )
        name = self.alias_name(phase, Role.BUILDER, escalate=escalate)
        return ExternalBuilder(
            ADAPTERS[phase.builder](),
            alias_name=name,
            alias=self.settings.aliases[name],
            ledger=self.ledger,
            scopes=scopes_of(self.run_id, phase.tier_id, phase.phase_id, attempt),
            context=CallContext(self.run_id, Role.BUILDER, phase.tier_id, phase.phase_id, attempt),
            recorder=DatabaseRecorder(self.database),
            redactor=self.redactor,
            env=self.env,
        )

    def _llm_event(self, event: LLMEvent) -> None:
        self.emit(
            ModelEvent(what=event.kind, alias=event.alias, detail=self.redactor.text(event.detail))
        )


def budgeted_model(
    name: str,
    *,
    settings: Settings,
    options: RunOptions,
    env: dict[str, str],
    ledger: BudgetLedger,
    context: CallContext,
    recorder: CallRecorder,
    transcripts: TranscriptWriter | None,
    breakers: CircuitBreakers,
    on_event: Callable[[LLMEvent], None] = lambda event: None,
) -> Model:
    """Resilient -> budgeted -> provider (or the cassette of a replayed run) for one alias."""
    aliases = settings.aliases
    if name not in aliases:
        raise ConfigError(
            f"--llm names unknown model alias {name!r} (known: {', '.join(sorted(aliases))})"
        )
    alias = aliases[name]
    replay = options.replay_file
    base: Model = (
        ReplayModel(replay, alias.model)
        if replay is not None
        else build_model(name, alias, api_key(alias, env))
    )
    budgeted = BudgetedModel(
        base,
        alias_name=name,
        alias=alias,
        ledger=ledger,
        scopes=scopes_of(context.run_id, context.tier_id, context.phase_id, context.attempt),
        context=context,
        recorder=recorder,
        transcripts=transcripts,
    )
    return ResilientModel([budgeted], breakers=breakers, on_event=on_event)


def ledger_for(strategy: Strategy, database: Database) -> BudgetLedger:
    """Caps at run, tier and phase from the frozen strategy; spend restored from the stored ledger."""
    ledger = BudgetLedger()
    limits = strategy.limits.budget
    ledger.set_cap((Level.RUN, strategy.run_id), Cap(limits.tokens, limits.usd))
    for tier in strategy.tiers:
        ledger.set_cap((Level.TIER, tier.tier_id), Cap(tier.budget.tokens, tier.budget.usd))
        for phase in tier.phases:
            ledger.set_cap(
                (Level.PHASE, phase.phase_id), Cap(phase.budget.tokens, phase.budget.usd)
            )
    return ledger_from_database(database, strategy.run_id, ledger)


_SERVICES: dict[str, RunServices] = {}


def services_for(run_id: str, repo_root: str, options: RunOptions) -> RunServices:
    """The process's services for a run, composed on first use (also after a restart)."""
    known = _SERVICES.get(run_id)
    if known is not None:
        return known
    root = Path(repo_root).resolve()
    env = dict(os.environ)
    database = open_database(database_url_for(root, env))
    record = get_run(database, run_id)
    # What the run was created with, not today's autopack.toml: a resumed or adopted run keeps
    # its caps, policy, CI commands and models.
    frozen = frozen_settings(database, run_id)
    settings = thaw_settings(frozen, root) if frozen else load_settings(root)
    strategy = Strategy.model_validate_json(record.strategy_json)
    services = RunServices(
        run_id=run_id,
        settings=settings,
        database=database,
        strategy=strategy,
        options=options,
        git=git_for(settings),
        sandbox=sandbox_for(options.no_sandbox, settings),
        ledger=ledger_for(strategy, database),
        redactor=redactor_for(settings.aliases, env),
        env=env,
    )
    services.git.recover_run_worktrees(run_id)
    _SERVICES[run_id] = services
    return services


def forget_services(run_id: str) -> None:
    services = _SERVICES.pop(run_id, None)
    if services is not None:
        services.database.close()
