"""The tables. Ids of runs, tiers and phases come from plans and config, so they are strings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(64)
NAME = String(200)
STATE = String(40)
USD = Numeric(14, 6)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ProjectRow(Base):
    """A project: its runs, chains and backlog. A registered one has its repository's path, so a
    server and its workers can run it; rows made implicitly by a run have none."""

    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_repo_path", "repo_path", unique=True),)

    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # Absolute, resolved: the top of the repository's git work tree.
    repo_path: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunChainRow(Base):
    """A plan larger than one run (run/chain.py): its parts run one after another."""

    __tablename__ = "run_chains"

    chain_id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"))
    plan_path: Mapped[str | None] = mapped_column(Text)
    # Every part's plan (PlanSpec JSON, in order): a later part is created from these, not from a
    # plan file that may have changed since the chain started.
    parts_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class RunRow(Base):
    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), index=True)
    plan_path: Mapped[str | None] = mapped_column(Text)
    plan_title: Mapped[str] = mapped_column(Text, default="")
    safety_profile: Mapped[str] = mapped_column(String(20))
    run_scope: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(STATE, index=True)
    failure_code: Mapped[str | None] = mapped_column(String(100))
    failure_message: Mapped[str | None] = mapped_column(Text)
    strategy_json: Mapped[str] = mapped_column(Text)
    base_branch: Mapped[str | None] = mapped_column(String(200))
    base_commit: Mapped[str | None] = mapped_column(String(64))
    # "bubblewrap", or "none" when the user opted out with --no-sandbox (shown in the run summary).
    sandbox: Mapped[str | None] = mapped_column(String(40))
    # The process driving the run and when it last said it was alive: a sweeper resumes runs whose
    # executor went silent.
    executor_id: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A run started over the API waits for a worker on DBOS's runs queue (run/runs_queue.py): the
    # RunOptions it runs with, when it was put in line, and when a worker's workflow took it.
    options_json: Mapped[str | None] = mapped_column(Text)
    # The settings the run was created with: a resume or another worker uses these, not today's file.
    settings_json: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set by a cancel request; the run ends at its next step boundary with this as the reason.
    cancel_requested: Mapped[str | None] = mapped_column(Text)
    # When the process driving the run was interrupted (Ctrl-C, SIGTERM); cleared when an executor
    # drives it again. Its state stays where the run stopped: it is resumable, not ended.
    interrupted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A part of a chain: the chain and the part's place in it, from 1 (None for a run on its own).
    chain_id: Mapped[str | None] = mapped_column(ForeignKey("run_chains.chain_id"), index=True)
    chain_part: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TierRow(Base):
    __tablename__ = "tiers"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    tier_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(STATE)
    cleanliness: Mapped[str | None] = mapped_column(String(20))


class PhaseRow(Base):
    __tablename__ = "phases"
    __table_args__ = (
        ForeignKeyConstraint(["run_id", "tier_id"], ["tiers.run_id", "tiers.tier_id"]),
        UniqueConstraint("run_id", "position"),
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    phase_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tier_id: Mapped[str] = mapped_column(ID)
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(STATE)
    task_category: Mapped[str] = mapped_column(String(40))
    complexity: Mapped[str] = mapped_column(String(20))
    builder_mode: Mapped[str] = mapped_column(String(40))
    attempts_used: Mapped[int] = mapped_column(Integer, default=0)
    # auto_apply = false: "pending" until the Auditor or a person approves; None when not needed.
    approval: Mapped[str | None] = mapped_column(String(20))
    approved_by: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AttemptRow(Base):
    """One Builder or Auditor attempt of a phase."""

    __tablename__ = "attempts"
    __table_args__ = (
        ForeignKeyConstraint(["run_id", "phase_id"], ["phases.run_id", "phases.phase_id"]),
        UniqueConstraint("run_id", "phase_id", "role", "number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID)
    phase_id: Mapped[str] = mapped_column(ID)
    role: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(40))
    model_alias: Mapped[str | None] = mapped_column(String(100))
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    usd: Mapped[Decimal] = mapped_column(USD, default=Decimal(0))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BacklogIssueRow(Base):
    """The project backlog: an issue_key's history across runs."""

    __tablename__ = "backlog_issues"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), primary_key=True)
    issue_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    severity: Mapped[str] = mapped_column(String(10))
    effective_severity: Mapped[str] = mapped_column(String(10))
    issue_state: Mapped[str] = mapped_column(String(20), index=True)
    age_in_runs: Mapped[int] = mapped_column(Integer)
    age_in_tiers: Mapped[int] = mapped_column(Integer)
    payload_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class LlmCallRow(Base):
    """The cost ledger: one row per billed LLM call."""

    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_run_phase", "run_id", "phase_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"))
    tier_id: Mapped[str | None] = mapped_column(ID)
    phase_id: Mapped[str | None] = mapped_column(ID)
    attempt: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(Integer)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer)
    usd: Mapped[Decimal] = mapped_column(USD)
    latency_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(40))
    # Path of the call's redacted transcript, when one was written.
    transcript: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class EventRow(Base):
    """Append-only history: every state change with its time and cause."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"))
    entity: Mapped[str] = mapped_column(String(10))
    entity_id: Mapped[str] = mapped_column(ID)
    from_state: Mapped[str | None] = mapped_column(STATE)
    to_state: Mapped[str] = mapped_column(STATE)
    event: Mapped[str] = mapped_column(String(40))
    cause: Mapped[str] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(100))
    reason_message: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class LlmCheckpointRow(Base):
    """A model answer already paid for, so a resumed attempt replays it instead of paying again."""

    __tablename__ = "llm_checkpoints"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    # Whose conversation: run/phase/role/attempt; `sequence` numbers its requests from 1.
    conversation: Mapped[str] = mapped_column(String(200), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ProgressEventRow(Base):
    """What a run's live view shows (steps, spend, retries), for watchers in other processes."""

    __tablename__ = "progress_events"
    __table_args__ = (Index("ix_progress_events_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ApiTokenRow(Base):
    """A bearer token of the REST API, kept only as the SHA-256 of its secret part."""

    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(10))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiTokenProjectRow(Base):
    """A project a limited token may see; a token with no rows here sees every project."""

    __tablename__ = "api_token_projects"

    token_id: Mapped[str] = mapped_column(ForeignKey("api_tokens.token_id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.project_id"), primary_key=True)


class RemoteOfferRow(Base):
    """An attempt offered to Builders outside the run's process: its task, lease and submission.

    The lease token is kept only as its SHA-256, as API tokens are."""

    __tablename__ = "remote_offers"
    __table_args__ = (
        ForeignKeyConstraint(["run_id", "phase_id"], ["phases.run_id", "phases.phase_id"]),
        UniqueConstraint("run_id", "phase_id", "attempt"),
        Index("ix_remote_offers_status", "status"),
    )

    offer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The run's project, kept here so a token limited to projects is answered from this row alone.
    project_id: Mapped[str] = mapped_column(ID)
    run_id: Mapped[str] = mapped_column(ID)
    phase_id: Mapped[str] = mapped_column(ID)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    base_commit: Mapped[str] = mapped_column(String(64))
    task_json: Mapped[str] = mapped_column(Text)
    policy_json: Mapped[str] = mapped_column(Text)
    allowance_tokens: Mapped[int] = mapped_column(Integer)
    allowance_usd: Mapped[Decimal] = mapped_column(USD)
    lease_seconds: Mapped[int] = mapped_column(Integer)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(NAME)
    lease_sha256: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submission_json: Mapped[str | None] = mapped_column(Text)
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
