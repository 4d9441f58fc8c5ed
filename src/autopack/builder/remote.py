"""A Builder that works elsewhere: the attempt is offered through the store, an outside agent claims
it over the API or MCP, builds from the base commit in its own clone and submits a patch.

What it submits takes the built-in Builder's own path from here on: the patch is applied to the
attempt's worktree by the governed engine under the run's write policy, and the diff the run judges
is read from that worktree by git, never taken from the submission. The attempt's whole remaining
allowance is held while the offer is out (as for an external CLI) and handed to the claimant as its
cap; what the agent reports spending replaces the hold. A report above the allowance is counted as
reported, and the patch is then not applied: the attempt ends on its budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from autopack.apply.formats.detect import parse_patch_text
from autopack.apply.governed import apply_governed
from autopack.apply.policy import WritePolicy, check_patch
from autopack.builder.agent import first_look_query, map_tokens_for
from autopack.builder.allowance import NO_TOKEN_CAP, NO_USD_CAP, attempt_allowance
from autopack.builder.base import (
    BuilderResult,
    BuilderUsage,
    BuildRequest,
    StopReason,
    TrajectoryStep,
)
from autopack.builder.modes import MODE_PROFILES, ModeProfile
from autopack.builder.prompts import task_message
from autopack.builder.repomap import RepoMap
from autopack.domain.vocabulary import BuilderMode
from autopack.errors import PatchApplyError, PatchFormatError, PolicyViolation
from autopack.llm.aliases import ModelAlias
from autopack.llm.budget import Amount, BudgetExhausted, BudgetLedger, Scope
from autopack.llm.budgeted import CallContext, CallRecorder
from autopack.llm.redact import Redactor
from autopack.store.engine import Database
from autopack.store.ledger import LlmCallRecord, ledger_for_run
from autopack.store.remote_offers import (
    Offer,
    OfferStatus,
    Submission,
    get_offer,
    offer_attempt,
    offer_of_attempt,
    withdraw_offer,
)
from autopack.workspace.diffs import changed_paths, worktree_diff

REMOTE_PROVIDER = "remote"
# What the offer's columns hold; a cap above them is no cap at all.
MAX_STORED_TOKENS = 2**31 - 1
MAX_STORED_USD = Decimal("99999999")


@dataclass(frozen=True)
class RemoteTerms:
    """How long an offer waits for a first claim, how long a lease lasts unrenewed, how often the
    run looks for a submission. After a claim, the phase's mode bounds the attempt's wall clock."""

    lease_seconds: int = 120
    claim_wait_seconds: float = 900
    poll_seconds: float = 0.5


def _cap(value: int | Decimal, unlimited: int | Decimal) -> str | None:
    return None if value >= unlimited else str(value)


class RemoteBuilder:
    name = "remote"

    def __init__(
        self,
        *,
        database: Database,
        project_id: str,
        repository: Path,
        alias: ModelAlias,
        ledger: BudgetLedger,
        scopes: Sequence[Scope],
        context: CallContext,
        recorder: CallRecorder,
        policy: WritePolicy,
        terms: RemoteTerms,
        redactor: Redactor | None = None,
        profiles: Mapping[BuilderMode, ModeProfile] = MODE_PROFILES,
    ):
        self.database = database
        self.project_id = project_id
        self.repository = repository
        self.alias = alias
        self.ledger = ledger
        self.scopes = tuple(scopes)
        self.context = context
        self.recorder = recorder
        self.policy = policy
        self.terms = terms
        self.redactor = redactor or Redactor()
        self.profiles = profiles

    def task(self, request: BuildRequest, allowance: Amount) -> dict[str, Any]:
        """Everything an outside agent needs, redacted as every prompt is."""
        phase, redact = request.phase, self.redactor.text
        profile = self.profiles[phase.builder_mode]
        ranked = RepoMap(request.worktree.path).rank(
            first_look_query(request), phase.scope, map_tokens_for(request)
        )
        return {
            "run_id": self.context.run_id,
            "phase_id": phase.phase_id,
            "attempt": request.attempt,
            "title": redact(phase.title),
            "description": redact(phase.description),
            "acceptance": [redact(item) for item in phase.acceptance],
            "scope": list(phase.scope),
            "builder_mode": phase.builder_mode.value,
            "guidance": profile.guidance,
            "feedback": [
                {
                    "kind": item.kind.value,
                    "summary": redact(item.summary),
                    "detail": redact(item.detail),
                }
                for item in request.feedback
            ],
            "repo_map": redact(ranked.text),
            "prompt": redact(task_message(request, profile, ranked.text)),
            "repository": str(self.repository),
            "base_commit": request.worktree.base_commit,
            "protected_paths": list(self.policy.protected),
            "allowance": {
                "tokens": _cap(allowance.tokens, NO_TOKEN_CAP),
                "usd": _cap(allowance.usd, NO_USD_CAP),
            },
            "wall_seconds": profile.wall_seconds,
            "patch_formats": ["unified diff", "SEARCH/REPLACE blocks", "*** Begin Patch envelope"],
        }

    async def build(self, request: BuildRequest) -> BuilderResult:
        billed = await asyncio.to_thread(self._billed_submission, request)
        if billed is not None:
            # Resumed after the report was billed: the ledger already holds it, so only the patch
            # is applied again, to the worktree rebuilt from the base commit.
            return await self._land(request, *billed)
        allowance = attempt_allowance(self.ledger, self.scopes, request)
        if allowance.tokens <= 0 or allowance.usd <= 0:
            return self._result(request, StopReason.BUDGET, "no budget left")
        try:
            reservation = self.ledger.reserve(self.scopes, allowance)
        except BudgetExhausted as exhausted:
            return self._result(request, StopReason.BUDGET, str(exhausted))
        started = time.monotonic()
        offer: Offer | None = None
        try:
            task = await asyncio.to_thread(self.task, request, allowance)
            offer = await asyncio.to_thread(
                offer_attempt,
                self.database,
                project_id=self.project_id,
                run_id=self.context.run_id,
                phase_id=request.phase.phase_id,
                attempt=request.attempt,
                base_commit=request.worktree.base_commit,
                task=task,
                policy=self.policy.model_dump(mode="json"),
                allowance_tokens=min(allowance.tokens, MAX_STORED_TOKENS),
                allowance_usd=min(allowance.usd, MAX_STORED_USD),
                lease_seconds=self.terms.lease_seconds,
            )
            offer, stop, detail = await self._wait(offer, request)
        except BaseException:
            self.ledger.release(reservation)
            if offer is not None:
                # Killed or cancelled while waiting: nobody may submit into a run that stopped.
                withdraw_offer(self.database, offer.offer_id)
            raise
        if offer.submission is None:
            await asyncio.to_thread(withdraw_offer, self.database, offer.offer_id)
            self.ledger.release(reservation)
            return self._result(request, stop, detail, offer)
        call = self._call_record(offer, started)
        self.ledger.settle(
            reservation, Amount(tokens=call.input_tokens + call.output_tokens, usd=call.usd)
        )
        self.recorder.record(call)
        return await self._land(request, offer, call)

    def _billed_submission(self, request: BuildRequest) -> tuple[Offer, LlmCallRecord] | None:
        offer = offer_of_attempt(
            self.database, self.context.run_id, request.phase.phase_id, request.attempt
        )
        if offer is None or offer.submission is None:
            return None
        calls = [
            call
            for call in ledger_for_run(self.database, self.context.run_id)
            if call.provider == REMOTE_PROVIDER
            and call.phase_id == request.phase.phase_id
            and call.attempt == request.attempt
        ]
        return (offer, calls[0]) if calls else None

    async def _land(
        self, request: BuildRequest, offer: Offer, call: LlmCallRecord
    ) -> BuilderResult:
        """The billed submission's patch in the worktree, unless the report passed the allowance."""
        assert offer.submission is not None
        tokens = call.input_tokens + call.output_tokens
        if tokens > offer.allowance_tokens or call.usd > offer.allowance_usd:
            detail = (
                f"{offer.claimed_by} reported {tokens} tokens and {call.usd} USD, above the "
                f"attempt's allowance of {offer.allowance_tokens} tokens and "
                f"{offer.allowance_usd} USD; its patch is not applied"
            )
            return self._result(request, StopReason.BUDGET, detail, offer)
        refusal = await asyncio.to_thread(self._apply, request, offer.submission.patch)
        if refusal is not None:
            return self._result(request, StopReason.AGENT_ERROR, refusal, offer)
        return self._result(request, StopReason.FINISHED, "", offer)

    async def _wait(self, offer: Offer, request: BuildRequest) -> tuple[Offer, StopReason, str]:
        """Until the offer is submitted, or nobody claimed it in time, or the attempt's wall clock
        ran out; the stop reason says which when nothing was submitted."""
        started = time.monotonic()
        wall = self.profiles[request.phase.builder_mode].wall_seconds
        while True:
            offer = await asyncio.to_thread(get_offer, self.database, offer.offer_id)
            if offer.status is OfferStatus.SUBMITTED:
                return offer, StopReason.FINISHED, ""
            waited = time.monotonic() - started
            if offer.claims == 0 and waited >= self.terms.claim_wait_seconds:
                return (
                    offer,
                    StopReason.AGENT_ERROR,
                    f"no remote builder claimed attempt {request.attempt} within "
                    f"{self.terms.claim_wait_seconds:.0f} s",
                )
            if waited >= self.terms.claim_wait_seconds + wall:
                return offer, StopReason.WALL_CLOCK, f"nothing was submitted within {waited:.0f} s"
            await asyncio.sleep(self.terms.poll_seconds)

    def _apply(self, request: BuildRequest, patch: str) -> str | None:
        """The built-in Builder's apply_patch path; the refusal in words, None when applied."""
        try:
            apply_governed(request.worktree.path, parse_patch_text(patch), self.policy)
        except PatchFormatError as error:
            return f"the submitted patch was refused, nothing changed: {error}"
        except PolicyViolation as violation:
            return f"the submitted patch was refused by policy, nothing changed: {violation}"
        except PatchApplyError as error:
            detail = "\n".join(error.diagnostics)
            return f"the submitted patch did not apply (rule: {error.rule}):\n{detail}"
        return None

    def _call_record(self, offer: Offer, started: float) -> LlmCallRecord:
        """The report as one ledger row, priced at the alias's rates when it gave no cost."""
        assert offer.submission is not None
        usage = offer.submission.usage
        cost = usage.cost_usd
        if cost is None:
            cost = self.alias.cost_usd(
                usage.input_tokens,
                usage.cached_input_tokens,
                usage.output_tokens,
                usage.cache_write_tokens,
            )
        return LlmCallRecord(
            run_id=self.context.run_id,
            tier_id=self.context.tier_id,
            phase_id=self.context.phase_id,
            attempt=self.context.attempt,
            role=self.context.role,
            provider=REMOTE_PROVIDER,
            model=(offer.claimed_by or "unknown")[:200],
            input_tokens=usage.input_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            usd=cost,
            latency_ms=int((time.monotonic() - started) * 1000),
            outcome="ok",
        )

    def _result(
        self, request: BuildRequest, stop: StopReason, detail: str, offer: Offer | None = None
    ) -> BuilderResult:
        submission = offer.submission if offer is not None else None
        usage = submission.usage if submission is not None else None
        summary = self.redactor.text(submission.summary) if submission is not None else ""
        claimant = offer.claimed_by if offer is not None else None
        steps = (
            (
                TrajectoryStep(
                    number=1,
                    action="remote",
                    arguments=f"offer {offer.offer_id}, {offer.claims} claim(s), by {claimant}",
                    observation=summary[:2_000],
                    failed=stop is not StopReason.FINISHED,
                ),
            )
            if offer is not None
            else ()
        )
        return BuilderResult(
            builder=self.name if claimant is None else f"{self.name}:{claimant}"[:200],
            stop_reason=stop,
            stop_detail=self.redactor.text(detail),
            diff=worktree_diff(request.worktree),
            changed_paths=changed_paths(request.worktree),
            summary=summary,
            usage=BuilderUsage(
                requests=usage.requests if usage else 0,
                input_tokens=usage.input_tokens if usage else 0,
                cached_input_tokens=usage.cached_input_tokens if usage else 0,
                output_tokens=usage.output_tokens if usage else 0,
                reported_usd=usage.cost_usd if usage else None,
            ),
            trajectory=steps,
        )


def check_submission(offer: Offer, submission: Submission) -> None:
    """Refuse, by the rule that names why, a patch the run would refuse: one that is not a patch,
    or that writes a protected path, outside the repository or under .git. Judged on names and
    shape when it is submitted, so the agent hears it at once; the run judges it again in full."""
    policy = WritePolicy.model_validate(offer.policy)
    # No tree here to look into: a path through a symlink is refused when the run applies it.
    check_patch(Path("/nonexistent"), parse_patch_text(submission.patch), policy)
