"""What a run's steps work with: settings, store, git, sandbox, the budget ledger and its models.

Composed by whoever drives the run (its workflow, a cancel) from the run's stored strategy, settings
and the options it was started with, so a process that resumes a run composes exactly what the one
that started it did; the database and the clocks are the composing process's own (its Settings).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from pydantic_ai.models import Model

from autopack.builder.agent import AgentBuilder
from autopack.builder.base import Builder
from autopack.builder.external.registry import ADAPTERS
from autopack.builder.external.runner import ExternalBuilder
from autopack.builder.remote import RemoteBuilder, RemoteTerms
from autopack.config import Settings, thaw_settings
from autopack.domain.issues import PhaseIssue
from autopack.domain.strategy import PhaseStrategy, Strategy
from autopack.domain.vocabulary import BuilderName, IssueState, Role
from autopack.errors import ConfigError
from autopack.issues.phase_issue_file import PhaseIssueFile, phase_issue_file
from autopack.issues.record import RecordedIssues, record_issues
from autopack.llm.budget import Amount, BudgetLedger, Cap, Level, scopes_of
from autopack.llm.budgeted import BudgetedModel, CallContext, CallRecorder
from autopack.llm.caching import conversation_cache_key
from autopack.llm.checkpoint import CheckpointedModel
from autopack.llm.keys import api_key, redactor_for
from autopack.llm.providers import build_model
from autopack.llm.rate_limit import rate_limited
from autopack.llm.recorders import DatabaseRecorder, ledger_from_database
from autopack.llm.redact import Redactor
from autopack.llm.replay import RecordingModel, ReplayModel
from autopack.llm.resilience import CircuitBreakers, LLMEvent, ResilientModel
from autopack.llm.transcripts import TranscriptWriter
from autopack.llm.worst_case import worst_case
from autopack.run.events import IssuesRecorded, ModelEvent, ProgressEvent
from autopack.run.merge_train import MergeTrain
from autopack.run.provider_queues import process_permits
from autopack.store.engine import Database, open_database
from autopack.store.issue_records import load_backlog
from autopack.store.progress import record_progress
from autopack.store.runs import frozen_settings, get_run
from autopack.strategy.learned_routing import escalation_target
from autopack.verify.base import Sandbox
from autopack.verify.environment.base import CommandEnvironment
from autopack.verify.environment.registry import prepare_environment
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
    # Live phases take turns on the integration worktree and the merge train: merging, landing.
    integration_lock: threading.Lock = field(default_factory=threading.Lock)
    train: MergeTrain = field(default_factory=MergeTrain)

    @property
    def run_dir(self) -> Path:
        return self.settings.runs_dir / self.run_id

    def emit(self, event: ProgressEvent) -> None:
        """Progress for whoever watches: stored, for the API's streams and the CLI's live view."""
        record_progress(self.database, self.run_id, event.kind, event.details())

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

    def left_for(self, phase: PhaseStrategy, attempt: int | None = None) -> Amount:
        """What the tightest of the run, tier, phase (and attempt) caps still allows."""
        scopes = scopes_of(self.run_id, phase.tier_id, phase.phase_id, attempt)
        amounts = [self.ledger.remaining(scope) for scope in scopes]
        return Amount(min(a.tokens for a in amounts), min(a.usd for a in amounts))

    def alias_name(
        self,
        phase: PhaseStrategy,
        role: Role,
        *,
        escalate: bool = False,
        attempt: int | None = None,
    ) -> str:
        """The phase's alias for the role; one level up when the last attempt made no progress
        (never past the top, never beyond the phase's budget, never away from --llm's alias)."""
        if self.options.forced_alias:
            return self.options.forced_alias
        routed = phase.models[role]
        stronger = (
            escalation_target(self.settings.routing, phase.routes.get(role), routed)
            if escalate
            else None
        )
        if stronger is None or stronger not in self.settings.aliases:
            return routed
        # Only if one call of the stronger model still fits what the phase has left: a switch
        # the budget cannot carry would end the run instead of giving it a better chance.
        needed = worst_case(self.settings.aliases[stronger], [])
        left = self.left_for(phase, attempt)
        if needed.tokens > left.tokens or needed.usd > left.usd:
            return routed
        return stronger

    def model_for(
        self,
        phase: PhaseStrategy,
        role: Role,
        attempt: int,
        *,
        escalate: bool = False,
        alias: str | None = None,
        thread: str = "",
    ) -> Model:
        """Checkpointed -> recorded -> resilient -> budgeted -> provider (or cassette); `alias`
        overrides the phase's, `thread` keeps a second conversation of the role apart."""
        model = budgeted_model(
            alias or self.alias_name(phase, role, escalate=escalate, attempt=attempt),
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
            conversation=f"{phase.phase_id}/{role.value}/{attempt}{thread}",
        )

    def builder_for(self, phase: PhaseStrategy, attempt: int, *, escalate: bool = False) -> Builder:
        """Autopack's agent, or the external CLI the phase names, billed to the same ledger."""
        if phase.builder is BuilderName.AUTOPACK:
            name = self.alias_name(phase, Role.BUILDER, escalate=escalate, attempt=attempt)
            fast = self.options.forced_alias or self.settings.routing.fast
            return AgentBuilder(
                self.model_for(phase, Role.BUILDER, attempt, alias=name),
                sandbox=self.sandbox,
                policy=self.settings.policy,
                redactor=self.redactor,
                environment=self._command_environment,
                context_rules=self.settings.ruleset.builder_context,
                context_window=self.settings.aliases[name].context_window,
                # Made when a summary is first due: a fast alias whose key went missing after
                # the preflight fails only an attempt that needs it.
                summariser=lambda: self.model_for(
                    phase, Role.BUILDER, attempt, alias=fast, thread="/summary"
                ),
            )
        if phase.builder is BuilderName.REMOTE:
            return self._remote_builder(phase, attempt, escalate=escalate)
        if self.options.replay_file is not None:
            raise ConfigError(
                f"phase {phase.phase_id} is built by {phase.builder}, an external CLI, whose "
                "answers a cassette cannot replay"
            )
        name = self.alias_name(phase, Role.BUILDER, escalate=escalate, attempt=attempt)
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

    def _remote_builder(
        self, phase: PhaseStrategy, attempt: int, *, escalate: bool
    ) -> RemoteBuilder:
        # The Builder alias prices a report that gives tokens but no cost.
        name = self.alias_name(phase, Role.BUILDER, escalate=escalate, attempt=attempt)
        runtime = self.settings.runtime
        return RemoteBuilder(
            database=self.database,
            project_id=self.settings.project.id,
            repository=self.settings.repo_root,
            alias=self.settings.aliases[name],
            ledger=self.ledger,
            scopes=scopes_of(self.run_id, phase.tier_id, phase.phase_id, attempt),
            context=CallContext(self.run_id, Role.BUILDER, phase.tier_id, phase.phase_id, attempt),
            recorder=DatabaseRecorder(self.database),
            policy=self.settings.policy,
            terms=RemoteTerms(
                lease_seconds=runtime.remote_lease_seconds,
                claim_wait_seconds=runtime.remote_claim_wait_seconds,
            ),
            redactor=self.redactor,
        )

    def _command_environment(self, worktree: Path) -> CommandEnvironment:
        return prepare_environment(self.settings, worktree, self.sandbox, check=False)

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
    """Resilient -> budgeted -> rate limited -> provider (or the cassette of a replayed run) for
    one alias."""
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
        else rate_limited(
            build_model(
                name,
                alias,
                api_key(alias, env),
                cache_key=conversation_cache_key(
                    context.run_id, context.role.value, context.phase_id, context.attempt
                ),
            ),
            alias.provider,
            process_permits(),
        )
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
            # A phase may spend its incident budget across its attempts and each attempt its
            # budget: the same for ordinary phases, more than one attempt's worth for high risk.
            incident = phase.incident_budget
            ledger.set_cap((Level.PHASE, phase.phase_id), Cap(incident.tokens, incident.usd))
            for attempt in range(1, phase.max_builder_attempts + 1):
                ledger.set_cap(
                    (Level.ATTEMPT, f"{phase.phase_id}#{attempt}"),
                    Cap(phase.budget.tokens, phase.budget.usd),
                )
    return ledger_from_database(database, strategy.run_id, ledger)


def compose_services(run_id: str, current: Settings, options: RunOptions) -> RunServices:
    """The run's services in this process (also after a restart); the caller closes them."""
    env = dict(os.environ)  # for the providers' keys, read at their edge only
    database = open_database(current.database_url)
    try:
        record = get_run(database, run_id)
        # What the run was created with, not today's autopack.toml: a resumed or adopted run keeps
        # its caps, policy, CI commands and models.
        frozen = frozen_settings(database, run_id)
        settings = thaw_settings(frozen, current) if frozen else current
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
    except BaseException:
        database.close()
        raise
    return services


_shared: dict[str, tuple[RunServices, int]] = {}
_sharing = threading.Lock()


@contextmanager
def run_services(run_id: str, current: Settings, options: RunOptions) -> Iterator[RunServices]:
    """The run's services for the length of the block, their database closed after the last.

    Every workflow of the run in this process (the run's and each live phase's) shares one: one
    ledger, so budgets hold across phases that call models at once, and one integration lock.
    Only the holder of the run's lease drives it, so no other process has a ledger of the run.
    """
    with _sharing:
        held = _shared.get(run_id)
        if held is None:
            services = compose_services(run_id, current, options)
            held = (services, 0)
        services, users = held
        _shared[run_id] = (services, users + 1)
    try:
        yield services
    finally:
        with _sharing:
            services, users = _shared[run_id]
            if users == 1:
                del _shared[run_id]
                services.database.close()
            else:
                _shared[run_id] = (services, users - 1)
