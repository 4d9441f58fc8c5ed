"""The built-in Builder: a pydantic-ai agent whose tools act only inside the attempt worktree.

Its model comes in already wrapped (budgeted, resilient, recorded) by whoever composes the run, so
every request is reserved and billed before this module sees a token. This module bounds the
attempt by steps, wall clock and progress, and turns every way an attempt can end into a
StopReason the Supervisor can act on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_ai import Agent, RunContext, Tool, ToolOutput, UsageLimits
from pydantic_ai.capabilities import ProcessHistory
from pydantic_ai.exceptions import UsageLimitExceeded
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage

from autopack.apply.policy import WritePolicy
from autopack.builder.base import (
    BuilderResult,
    BuilderUsage,
    BuildRequest,
    StopReason,
    SuggestedIssue,
    TrajectoryStep,
)
from autopack.builder.context import ContextKeeper
from autopack.builder.modes import MODE_PROFILES, ModeProfile
from autopack.builder.progress import ProgressMonitor, Stuck, digest
from autopack.builder.prompts import INSTRUCTIONS, task_message
from autopack.builder.repomap import RepoMap
from autopack.builder.tools import ToolRefused, WorktreeTools, clip
from autopack.domain.vocabulary import BuilderMode
from autopack.llm.budget import BudgetExhausted
from autopack.llm.redact import Redactor
from autopack.llm.resilience import ProviderUnavailable
from autopack.llm.tokens import count_tokens
from autopack.strategy.ruleset import BuilderContextRules
from autopack.verify.base import Limits, Sandbox, minimal_env
from autopack.verify.environment.base import CommandEnvironment
from autopack.workspace.base import Worktree
from autopack.workspace.diffs import changed_paths, worktree_diff

# Observations kept in the trajectory are shorter than what the model saw: enough to audit.
TRAJECTORY_CHARS = 2_000
# The tools' schemas, sent with every request but not among its messages (measured: ~1,500).
TOOL_SCHEMA_TOKENS = 2_000


class Finish(BaseModel):
    summary: str = Field(description="What you changed and why, in a few sentences.")
    suggested_issues: list[SuggestedIssue] = Field(
        default_factory=list, description="Problems you noticed but did not fix."
    )


class EditOperation(BaseModel):
    op: Literal["str_replace", "insert", "create", "delete"]
    path: str = Field(description="Path relative to the repository root.")
    old: str | None = Field(default=None, description="str_replace: the exact text to replace.")
    new: str | None = Field(default=None, description="str_replace: the replacement text.")
    line: int | None = Field(
        default=None, description="insert: add the text after this line (0 = top)."
    )
    text: str | None = Field(default=None, description="insert: the text to add.")
    content: str | None = Field(default=None, description="create: the whole file content.")


@dataclass
class _Session:
    tools: WorktreeTools
    worktree: Worktree
    monitor: ProgressMonitor
    redactor: Redactor
    context: ContextKeeper
    trajectory: list[TrajectoryStep] = field(default_factory=list)

    def step(self, action: str, arguments: Mapping[str, object], run: Callable[[], str]) -> str:
        failed = False
        try:
            observation = run()
        except ToolRefused as refused:
            observation, failed = str(refused), True
        observation = self.redactor.text(observation)
        shown_arguments = self.redactor.text(json.dumps(arguments, sort_keys=True, default=str))
        self.trajectory.append(
            TrajectoryStep(
                number=len(self.trajectory) + 1,
                action=action,
                arguments=clip(shown_arguments, TRAJECTORY_CHARS),
                observation=clip(observation, TRAJECTORY_CHARS),
                failed=failed,
            )
        )
        state = (digest(worktree_diff(self.worktree)), self.tools.test_vector())
        self.monitor.observe(
            action,
            shown_arguments,
            observation,
            failed_edit=failed and action in ("edit", "apply_patch"),
            state=state,
        )
        return observation


def _list_files(ctx: RunContext[_Session], directory: str = ".", pattern: str = "*") -> str:
    """List files under a directory of the repository (optionally matching a glob like '*.py')."""
    tools = ctx.deps.tools
    return ctx.deps.step(
        "list_files",
        {"directory": directory, "pattern": pattern},
        lambda: tools.list_files(directory, pattern),
    )


def _read_file(
    ctx: RunContext[_Session], path: str, start_line: int = 1, end_line: int | None = None
) -> str:
    """Read numbered lines of a file: 200 from start_line, or start_line to end_line (at most
    400). The last line says how many lines the file has and where to read on."""
    tools = ctx.deps.tools
    return ctx.deps.step(
        "read_file",
        {"path": path, "start_line": start_line, "end_line": end_line},
        lambda: tools.read_file(path, start_line, end_line),
    )


def _search_text(
    ctx: RunContext[_Session], pattern: str, path_glob: str = "*", regex: bool = False
) -> str:
    """Search file contents for a text (or a regular expression); returns path:line: text."""
    tools = ctx.deps.tools
    return ctx.deps.step(
        "search_text",
        {"pattern": pattern, "path_glob": path_glob, "regex": regex},
        lambda: tools.search_text(pattern, path_glob, regex),
    )


def _search_symbols(ctx: RunContext[_Session], name: str) -> str:
    """Find where a function, class or other symbol is defined and referenced."""
    tools = ctx.deps.tools
    return ctx.deps.step("search_symbols", {"name": name}, lambda: tools.search_symbols(name))


def _edit(ctx: RunContext[_Session], edits: list[EditOperation]) -> str:
    """Apply edits together: all of them apply, or none does and the diagnostics say why."""
    tools = ctx.deps.tools
    raw = [edit.model_dump(exclude_none=True) for edit in edits]
    return ctx.deps.step("edit", {"edits": raw}, lambda: tools.edit(raw))


def _apply_patch(ctx: RunContext[_Session], patch: str) -> str:
    """Apply a patch given as text: a unified diff, SEARCH/REPLACE blocks, or a '*** Begin Patch'
    envelope (for instance one the Auditor suggested). All of it applies, or none does."""
    tools = ctx.deps.tools
    return ctx.deps.step("apply_patch", {"patch": patch}, lambda: tools.apply_patch(patch))


def _run_command(ctx: RunContext[_Session], command: str) -> str:
    """Run a shell command (tests, linters) in the repository, in a sandbox without network."""
    tools = ctx.deps.tools
    return ctx.deps.step("run_command", {"command": command}, lambda: tools.run_command(command))


async def _keep_context(
    ctx: RunContext[_Session], messages: list[ModelMessage]
) -> list[ModelMessage]:
    return await ctx.deps.context.process(messages)


def _agent() -> Agent[_Session, Finish]:
    return Agent(
        output_type=ToolOutput(Finish, name="finish", description="Finish the attempt."),
        deps_type=_Session,
        instructions=INSTRUCTIONS,
        tools=[
            Tool(_list_files, name="list_files"),
            Tool(_read_file, name="read_file"),
            Tool(_search_text, name="search_text"),
            Tool(_search_symbols, name="search_symbols"),
            Tool(_edit, name="edit"),
            Tool(_apply_patch, name="apply_patch"),
            Tool(_run_command, name="run_command"),
        ],
        retries=2,
        capabilities=[ProcessHistory(_keep_context)],
    )


def first_look_query(request: BuildRequest) -> str:
    """What the repo map ranks files by: the phase's words and what earlier attempts left (the
    checks' failures with their tracebacks, the Auditor's findings), whose file and function
    names point at the code to open first."""
    phase = request.phase
    parts = [phase.title, phase.description, *phase.acceptance]
    parts += [f"{feedback.summary}\n{feedback.detail}" for feedback in request.feedback]
    return "\n".join(parts)


def map_tokens_for(request: BuildRequest) -> int:
    """A fortieth of the phase's token budget for the map, within sensible bounds."""
    return max(512, min(4096, request.phase.budget.tokens // 40))


class AgentBuilder:
    name = "autopack-agent"

    def __init__(
        self,
        model: Model,
        *,
        sandbox: Sandbox,
        policy: WritePolicy,
        redactor: Redactor | None = None,
        profiles: Mapping[BuilderMode, ModeProfile] = MODE_PROFILES,
        command_limits: Limits | None = None,
        env: Mapping[str, str] | None = None,
        environment: Callable[[Path], CommandEnvironment] | None = None,
        context_rules: BuilderContextRules | None = None,
        context_window: int = 128_000,
        summariser: Callable[[], Model] | None = None,
    ):
        self.model = model
        self.sandbox = sandbox
        self.policy = policy
        self.redactor = redactor or Redactor()
        self.profiles = profiles
        self.command_limits = command_limits or Limits(wall_seconds=300)
        self.env = dict(env) if env is not None else minimal_env()
        # The project's environment for the attempt's worktree, so the Builder's own test runs
        # import the worktree's code as the Verifier's do; `env` is used when there is none.
        self.environment = environment
        self.context_rules = context_rules or BuilderContextRules()
        # The Builder model's window, which a summary keeps the conversation under; the
        # summariser makes the fast alias, wrapped like `model` so its calls are billed to the
        # attempt, when a summary is first due.
        self.context_window = context_window
        self.summariser = summariser
        self._agent = _agent()

    async def build(self, request: BuildRequest) -> BuilderResult:
        profile = self.profiles[request.phase.builder_mode]
        root = request.worktree.path
        repo_map = RepoMap(root)
        ranked = repo_map.rank(
            first_look_query(request), request.phase.scope, map_tokens_for(request)
        )
        env, sandbox = self.env, self.sandbox
        if self.environment is not None:
            prepared = self.environment(root)
            env, sandbox = prepared.env, self.sandbox.reading(prepared.readable)
        session = _Session(
            tools=WorktreeTools(
                root=root,
                sandbox=sandbox,
                policy=self.policy,
                command_limits=self.command_limits,
                env=env,
                repo_map=repo_map,
            ),
            worktree=request.worktree,
            monitor=ProgressMonitor(profile.progress),
            redactor=self.redactor,
            context=ContextKeeper(
                rules=self.context_rules,
                context_window=self.context_window,
                summariser=self.summariser,
                current_diff=lambda: self.redactor.text(worktree_diff(request.worktree)),
                fixed_tokens=count_tokens(INSTRUCTIONS) + TOOL_SCHEMA_TOKENS,
            ),
        )
        prompt = self.redactor.text(task_message(request, profile, ranked.text))
        usage = RunUsage()
        stop, detail, finish = StopReason.FINISHED, "", None
        try:
            async with asyncio.timeout(profile.wall_seconds):
                result = await self._agent.run(
                    prompt,
                    model=self.model,
                    deps=session,
                    usage=usage,
                    usage_limits=UsageLimits(request_limit=profile.max_steps),
                )
            finish = result.output
        except Stuck as stuck:
            stop, detail = StopReason.NO_PROGRESS, str(stuck)
        except UsageLimitExceeded as exceeded:
            stop, detail = StopReason.STEP_LIMIT, str(exceeded)
        except TimeoutError:
            stop, detail = StopReason.WALL_CLOCK, f"over {profile.wall_seconds:.0f} s"
        except BudgetExhausted as exhausted:
            stop, detail = StopReason.BUDGET, str(exhausted)
        except ProviderUnavailable as unavailable:
            stop, detail = StopReason.PROVIDER_UNAVAILABLE, str(unavailable)
        except Exception as error:  # the attempt fails; the run goes on
            stop, detail = StopReason.AGENT_ERROR, f"{type(error).__name__}: {error}"
        usage = usage + session.context.usage
        return BuilderResult(
            builder=self.name,
            stop_reason=stop,
            stop_detail=self.redactor.text(detail),
            diff=worktree_diff(request.worktree),
            changed_paths=changed_paths(request.worktree),
            summary=self.redactor.text(finish.summary) if finish else "",
            suggested_issues=tuple(finish.suggested_issues) if finish else (),
            usage=BuilderUsage(
                requests=usage.requests,
                input_tokens=usage.input_tokens,
                cached_input_tokens=usage.cache_read_tokens,
                output_tokens=usage.output_tokens,
            ),
            trajectory=tuple(session.trajectory),
        )
