"""The verify step of an attempt: the verification ladder on the attempt merged onto the
integration branch's head (a worktree of its own, so live phases check at once), in the project's
own environment, its findings recorded as the phase's issues and its figures kept with the
attempt's reports (`ladder.json`) for the summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from autopack.issues.atomic_json import write_json_atomic
from autopack.run.artefacts import LADDER_FILE, REPORTS_DIR
from autopack.run.base_facts import load_base_facts
from autopack.run.events import AttemptStep, Verified
from autopack.run.outcomes import VerifyOutcome
from autopack.run.services import RunServices
from autopack.verify.base import Limits
from autopack.verify.environment.registry import prepare_environment
from autopack.verify.ladder import Ladder, LadderResult
from autopack.verify.ladder_issues import ladder_issues
from autopack.verify.registry import profile_commands

OUTPUT_CHARS = 6_000
LIMITS = Limits(wall_seconds=600)


def _output(result: LadderResult) -> str:
    parts = [f"{key}: {sentence}" for key, sentence in result.failures.items()]
    if result.full is not None:
        parts += [
            f"$ {outcome.command}\n(exit {outcome.exit_code}"
            + (", timed out" if outcome.timed_out else "")
            + f")\n{outcome.output_excerpt}"
            for outcome in result.full.final
            if not outcome.passed
        ]
    if result.output:
        parts.append(result.output)
    text = "\n\n".join(parts)
    return text if len(text) <= OUTPUT_CHARS else "…" + text[-OUTPUT_CHARS:]


def run_checks(
    services: RunServices,
    phase_id: str,
    attempt: int,
    changed: tuple[str, ...],
    head: str,
    tree: str,
) -> VerifyOutcome:
    """The ladder on `tree` (the gate's merge onto `head`), checked out as the integration
    worktree will hold it before the phase's commit."""
    services.emit(AttemptStep(phase=phase_id, attempt=attempt, step="verify"))
    candidate = services.git.candidate_worktree(
        services.run_id, f"check-{phase_id}-a{attempt}", head, tree
    )
    try:
        return _climb(services, phase_id, attempt, changed, head, candidate.path)
    finally:
        services.git.remove_worktree(candidate)


def _climb(
    services: RunServices,
    phase_id: str,
    attempt: int,
    changed: tuple[str, ...],
    head: str,
    checked: Path,
) -> VerifyOutcome:
    phase = services.phase(phase_id)
    reports = services.run_dir / REPORTS_DIR / f"{phase_id}-a{attempt}"
    reports.mkdir(parents=True, exist_ok=True)
    environment = prepare_environment(services.settings, checked, services.sandbox, check=False)

    def env_for(worktree: Path) -> Mapping[str, str]:
        if worktree == checked:
            return environment.env
        return prepare_environment(services.settings, worktree, services.sandbox, check=False).env

    def before(path: str) -> str | None:
        content = services.git.file_at(head, path)
        return content.decode("utf-8", "replace") if content is not None else None

    def base_checkout() -> tuple[Path, Callable[[], None]]:
        worktree = services.git.detached_worktree(
            services.run_id, f"evidence-{phase_id}-a{attempt}", head
        )
        return worktree.path, lambda: services.git.remove_worktree(worktree)

    result = Ladder(
        worktree=checked,
        phase=phase,
        commands=profile_commands(services.settings, phase.ci_profile),
        sandbox=services.sandbox.reading(environment.readable),
        limits=LIMITS,
        reports=reports,
        base=load_base_facts(services.run_dir, phase),
        changed=changed,
        before=before,
        env_for=env_for,
        base_checkout=base_checkout,
    ).climb()
    services.record_issues(phase, ladder_issues(result, services.run_id))
    write_json_atomic(reports / LADDER_FILE, ladder_record(result))
    services.emit(
        Verified(
            phase=phase_id,
            attempt=attempt,
            passed=result.passed,
            failures=len(result.failures),
            pre_existing=len(result.full.pre_existing) if result.full else 0,
            seconds=sum(rung.seconds for rung in result.rungs),
            stopped_at=result.stopped_at,
            fail_to_pass=len(result.fail_to_pass),
        )
    )
    return VerifyOutcome(
        passed=result.passed,
        failures=tuple(result.failures),
        output=_output(result),
        sandbox=services.sandbox.name,
    )


def ladder_record(result: LadderResult) -> dict[str, object]:
    return {
        "passed": result.passed,
        "stopped_at": result.stopped_at,
        "rungs": [
            {
                "name": rung.name,
                "passed": rung.passed,
                "skipped": rung.skipped,
                "seconds": round(rung.seconds, 3),
                "detail": rung.detail,
            }
            for rung in result.rungs
        ],
        "fail_to_pass": list(result.fail_to_pass),
        "pass_to_pass": result.pass_to_pass,
        "weak_acceptance": list(result.weak_acceptance),
        "vector": dict(result.vector),
    }
