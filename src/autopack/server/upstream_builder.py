"""Upstream's `builder_result` mapped onto remote Builders: a Builder outside the run posts its
patch for a phase, as upstream's did. Here the phase must be one whose builder is `remote` with an
attempt on offer; the result claims that attempt and submits the patch in one step, and from there
the run applies, checks and audits it like any attempt (builder/remote.py). Upstream set the phase
state from the result's `status`; here the run's own gate decides it, so only a `success` with a
patch is taken.

Upstream's request body: hshk99/Autopack src/autopack/builder_schemas.py `BuilderResult` at
c72e51500e540f508a88d87e94f59e8a480a977c (docs/migration-from-upstream.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from autopack.builder.remote import check_submission
from autopack.errors import PatchFormatError, PolicyViolation
from autopack.server.problems import Problem
from autopack.store.engine import Database
from autopack.store.remote_offers import (
    Offer,
    OfferRefused,
    ReportedUsage,
    Submission,
    claim_and_submit,
    open_offers,
)
from autopack.store.runs import get_run

CLAIMANT = "upstream builder_result"


class UpstreamProbe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe_type: str = Field(max_length=200)
    exit_code: int
    stdout: str = Field(default="", max_length=100_000)
    stderr: str = Field(default="", max_length=100_000)
    duration_seconds: float = 0.0


class UpstreamSuggestedIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issue_key: str = Field(max_length=200)
    severity: str = Field(max_length=20)
    source: str = Field(max_length=40)
    category: str = Field(max_length=100)
    evidence_refs: list[str] = Field(default_factory=list, max_length=100)
    description: str = Field(default="", max_length=10_000)


class UpstreamBuilderResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phase_id: str = Field(max_length=64)
    run_id: str = Field(max_length=200)
    patch_content: str | None = Field(default=None, max_length=5_000_000)
    files_changed: list[str] = Field(default_factory=list, max_length=10_000)
    lines_added: int = 0
    lines_removed: int = 0
    builder_attempts: int = 1
    tokens_used: int = Field(default=0, ge=0, le=10**12)
    duration_minutes: float = 0.0
    probe_results: list[UpstreamProbe] = Field(default_factory=list, max_length=1_000)
    suggested_issues: list[UpstreamSuggestedIssue] = Field(default_factory=list, max_length=1_000)
    status: str = Field(max_length=40, description="success, failed or needs_review")
    notes: str = Field(default="", max_length=20_000)


class BuilderResultTaken(BaseModel):
    message: str
    commit_sha: str | None = Field(description="Always null: the run commits once it passes")
    phase_state: str
    offer_id: str
    attempt: int


def offer_of_phase(database: Database, run_id: str, phase_id: str) -> Offer | None:
    offers = open_offers(database, run_ids=[run_id])
    return next((offer for offer in offers if offer.phase_id == phase_id), None)


def take_builder_result(
    database: Database, offer: Offer, result: UpstreamBuilderResult
) -> BuilderResultTaken:
    """Claim the phase's attempt on offer and submit the result's patch; the write policy's
    refusal by rule is a 422, as upstream's patch validation was."""
    if result.status != "success" or not (result.patch_content or "").strip():
        raise Problem(
            422,
            "Invalid input",
            f"status {result.status!r}: only a successful result with patch_content is taken; "
            "the attempt stays on offer, and a phase the run cannot pass fails by its own rules",
        )
    submission = Submission(
        patch=result.patch_content or "",
        summary=result.notes,
        usage=ReportedUsage(input_tokens=result.tokens_used),
    )
    try:
        taken = claim_and_submit(database, offer.offer_id, CLAIMANT, submission, check_submission)
    except OfferRefused as refusal:
        raise Problem(409, "Conflict", str(refusal), rule=refusal.rule) from None
    except PolicyViolation as violation:
        raise Problem(422, "Invalid input", str(violation), rule=violation.rule) from None
    except PatchFormatError as error:
        raise Problem(422, "Invalid input", str(error), rule="patch.format") from None
    phase = next(
        p
        for t in get_run(database, taken.run_id).tiers
        for p in t.phases
        if p.phase_id == taken.phase_id
    )
    return BuilderResultTaken(
        message=(
            f"Builder result taken for phase {taken.phase_id}, attempt {taken.attempt}: the run "
            "applies, checks and audits it"
        ),
        commit_sha=None,
        phase_state=phase.state.value,
        offer_id=taken.offer_id,
        attempt=taken.attempt,
    )
