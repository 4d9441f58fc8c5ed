"""What a run leaves in `.autonomous_runs/<run_id>/`: RUN_SUMMARY.md, tier summaries, incident packs."""

from __future__ import annotations

import glob
import json
import platform
import shlex
import subprocess
from collections import defaultdict
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from autopack import __version__
from autopack.apply.policy import WritePolicy
from autopack.domain.vocabulary import Approval
from autopack.issues.atomic_json import write_json_atomic
from autopack.issues.phase_issue_file import phase_issue_path, read_phase_issue_file
from autopack.run.chain_promotion import promotion_in_chain
from autopack.run.events import IncidentWritten
from autopack.store.attempts import attempts_of_phase
from autopack.store.chains import chain_of
from autopack.store.engine import Database
from autopack.store.ledger import LlmCallRecord, ledger_for_run
from autopack.store.runs import PhaseRecord, RunRecord, get_run

if TYPE_CHECKING:
    from autopack.run.services import RunServices

SUMMARY_FILE = "RUN_SUMMARY.md"
BASELINE_FILE = "baseline.json"
# Each verified attempt's climb of the verification ladder, in its reports folder.
LADDER_FILE = "ladder.json"
INCIDENTS_DIR = "incidents"
# One folder per verified attempt, `<phase_id>-a<attempt>`: what the tier CI-run cap counts.
REPORTS_DIR = "reports"


def policy_lines(policy: WritePolicy) -> list[str]:
    """The protected paths a run enforced, and any default a user gave up: never silent."""
    lines = [f"- Protected paths: {', '.join(f'`{glob}`' for glob in policy.protected)}"]
    if policy.unprotect:
        given_up = ", ".join(f"`{glob}`" for glob in policy.unprotect)
        lines.append(f"- Default protected paths given up ([policy] unprotect): {given_up}")
    if policy.symlinks:
        lines.append(f"- Symlinks allowed at: {', '.join(f'`{g}`' for g in policy.symlinks)}")
    return lines


def _versions() -> dict[str, str]:
    found = {"autopack": __version__, "python": platform.python_version()}
    for package in ("pydantic-ai-slim", "dbos", "openai", "anthropic", "sqlalchemy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    found["git"] = git.stdout.strip()
    return found


def replay_command(services: RunServices) -> str:
    """Re-run the same plan with the same options, answering from this run's recorded cassette."""
    from autopack.run.services import CASSETTE_FILE, REPLAY_PREFIX

    cassette = services.options.replay_file or services.run_dir / CASSETTE_FILE
    parts = [
        "autopack",
        "run",
        services.strategy.plan_source or "PLAN.md",
        "--repo",
        str(services.settings.repo_root),
        "--llm",
        f"{REPLAY_PREFIX}{cassette}",
    ]
    if services.options.no_sandbox:
        parts.append("--no-sandbox")
    return shlex.join(parts)


def write_incident(
    services: RunServices,
    phase_id: str | None,
    attempt: int,
    why: str,
    evidence: dict[str, str],
) -> Path:
    """Everything needed to understand and replay a failure, in one folder."""
    name = f"{phase_id}-a{attempt}" if phase_id else "run"
    folder = services.run_dir / INCIDENTS_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    attempt_dir = services.run_dir / "attempts" / name
    diff = evidence.get("diff") or (
        (attempt_dir / "diff.patch").read_text(encoding="utf-8")
        if (attempt_dir / "diff.patch").exists()
        else ""
    )
    (folder / "diff.patch").write_text(diff, encoding="utf-8")
    (folder / "test_output.txt").write_text(evidence.get("test_output", ""), encoding="utf-8")
    trajectory = (
        json.loads((attempt_dir / "trajectory.json").read_text(encoding="utf-8"))
        if (attempt_dir / "trajectory.json").exists()
        else []
    )
    # The last steps are the ones that explain an ending.
    write_json_atomic(folder / "trajectory_excerpt.json", trajectory[-12:])
    write_json_atomic(
        folder / "ledger.json",
        [
            call.model_dump(mode="json")
            for call in ledger_for_run(services.database, services.run_id)
        ],
    )
    write_json_atomic(folder / "findings.json", evidence.get("findings", "").splitlines())
    write_json_atomic(folder / "versions.json", _versions())
    command = replay_command(services)
    (folder / "REPLAY.md").write_text(
        f"# Incident: {name}\n\n{why}\n\nReplay it offline from the run's recorded model answers:\n\n"
        f"```bash\n{command}\n```\n",
        encoding="utf-8",
    )
    services.emit(IncidentWritten(phase=phase_id, folder=str(folder)))
    return folder


def _calls_by_phase(calls: list[LlmCallRecord]) -> dict[str | None, list[LlmCallRecord]]:
    grouped: dict[str | None, list[LlmCallRecord]] = defaultdict(list)
    for call in calls:
        grouped[call.phase_id].append(call)
    return grouped


def _commits(services: RunServices, run: RunRecord) -> dict[str, str]:
    if run.base_commit is None:
        return {}
    try:
        status = services.git.integration_status(services.run_id, run.base_commit)
    except Exception:  # a summary is still written when the branch is gone
        return {}
    return {
        commit.trailers["Autopack-Phase"]: commit.sha
        for commit in status.commits
        if "Autopack-Phase" in commit.trailers
    }


def _phase_rows(services: RunServices, run: RunRecord, tier_id: str | None = None) -> list[str]:
    calls = _calls_by_phase(ledger_for_run(services.database, services.run_id))
    commits = _commits(services, run)
    rows = [
        "| phase | outcome | attempts | tokens | USD | models | issues | commit | tests |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    strategy_phases = {phase.phase_id: phase for phase in services.strategy.phases}
    for tier in run.tiers:
        if tier_id is not None and tier.tier_id != tier_id:
            continue
        for phase in tier.phases:
            phase_calls = calls.get(phase.phase_id, [])
            tokens = sum(c.input_tokens + c.output_tokens for c in phase_calls)
            spent = sum((c.usd for c in phase_calls), Decimal(0))
            models = sorted({c.model for c in phase_calls}) or sorted(
                set(strategy_phases[phase.phase_id].models.values())
            )
            path = phase_issue_path(
                services.settings.runs_dir, services.run_id, phase.position, phase.phase_id
            )
            issues = read_phase_issue_file(path).open_issues if path.exists() else ()
            builder_attempts = [
                a
                for a in attempts_of_phase(services.database, services.run_id, phase.phase_id)
                if a.role.value == "builder"
            ]
            rows.append(
                f"| {phase.phase_id}: {phase.title} | {phase.state.value}{_approval(phase)} | "
                f"{len(builder_attempts)} | "
                f"{tokens:,} | ${spent:.4f} | {', '.join(models)} | "
                f"{', '.join(f'{i.issue_key} ({i.effective_severity.value})' for i in issues) or '-'} | "
                f"{commits.get(phase.phase_id, '-')[:12]} | "
                f"{_evidence(services.run_dir, phase.phase_id)} |"
            )
    return rows


def _evidence(run_dir: Path, phase_id: str) -> str:
    """Fail-to-pass and pass-to-pass counts of the phase's passing attempt (the ladder's record)."""
    passed = [
        record
        for folder in sorted(
            (run_dir / REPORTS_DIR).glob(f"{glob.escape(phase_id)}-a*"),
            key=_attempt_number,
        )
        if (record := read_ladder(folder)) is not None and record.get("passed")
    ]
    if not passed:
        return "-"
    landed = passed[-1]
    fail_to_pass = landed.get("fail_to_pass", [])
    count = len(fail_to_pass) if isinstance(fail_to_pass, list) else 0
    return f"fail-to-pass {count}, pass-to-pass {landed.get('pass_to_pass', 0)}"


def _attempt_number(folder: Path) -> int:
    number = folder.name.rpartition("-a")[2]
    return int(number) if number.isdigit() else 0


def read_ladder(folder: Path) -> dict[str, object] | None:
    path = folder / LADDER_FILE
    if not path.is_file():
        return None
    record: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return record


def _approval(phase: PhaseRecord) -> str:
    if phase.approval is Approval.PENDING:
        return ", awaits approval"
    if phase.approval is Approval.APPROVED:
        return f", approved by {phase.approved_by}"
    return ""


def approval_line(run_id: str, phase: PhaseRecord) -> str:
    """RUN_SUMMARY.md's line for an approval given after the run ended."""
    at = f" at {phase.approved_at:%Y-%m-%d %H:%M:%S} UTC" if phase.approved_at else ""
    return (
        f"- Approved after the run: phase {phase.phase_id} of {run_id} by {phase.approved_by}{at}"
    )


def write_tier_summary(services: RunServices, tier_id: str) -> Path:
    run = get_run(services.database, services.run_id)
    tier = next(t for t in run.tiers if t.tier_id == tier_id)
    lines = [
        f"# Tier {tier.tier_id}: {tier.name}",
        "",
        f"State: {tier.state.value} · cleanliness: "
        f"{tier.cleanliness.value if tier.cleanliness else 'not judged'}",
        "",
        *_phase_rows(services, run, tier_id),
        "",
    ]
    path = services.run_dir / f"tier_{tier.position:02d}_{tier.tier_id}_summary.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _baseline_lines(run_dir: Path) -> list[str]:
    path = run_dir / BASELINE_FILE
    if not path.exists():
        return []
    failing = sorted({key for keys in json.loads(path.read_text()).values() for key in keys})
    if not failing:
        return []
    shown = ", ".join(f"`{key}`" for key in failing[:10])
    more = f" and {len(failing) - 10} more" if len(failing) > 10 else ""
    return [f"- Pre-existing failures at the base commit (not blamed on phases): {shown}{more}"]


def _chain_lines(database: Database, run_id: str) -> list[str]:
    chain = chain_of(database, run_id)
    if chain is None:
        return []
    after = (
        f", after run `{chain.previous_run_id}`, from its integration head"
        if chain.part > 1
        else ""
    )
    later = (
        "; the next part starts only if this one ends DONE_SUCCESS" if chain.part < chain.of else ""
    )
    return [f"- Chain: part {chain.part} of {chain.of} of `{chain.chain_id}`{after}{later}"]


def write_run_summary(services: RunServices, run: RunRecord | None = None) -> Path:
    """RUN_SUMMARY.md of the run as stored, or as `run` says it is about to end."""
    run = run or get_run(services.database, services.run_id)
    calls = ledger_for_run(services.database, services.run_id)
    tokens = sum(c.input_tokens + c.output_tokens for c in calls)
    spent = sum((c.usd for c in calls), Decimal(0))
    limits = services.strategy.limits
    decision = promotion_in_chain(services.database, run)
    sandbox = run.sandbox or "bubblewrap"
    lines = [
        f"# {run.plan_title} — {run.run_id}",
        "",
        f"- State: **{run.state.value}**"
        + (f" — {run.failure.message} (`{run.failure.code}`)" if run.failure else ""),
        f"- Integration branch: `{services.git.integration_branch(run.run_id)}` from "
        f"`{run.base_branch or '?'}` at `{(run.base_commit or '?')[:12]}`",
        *_chain_lines(services.database, run.run_id),
        f"- Spent: {tokens:,} of {limits.budget.tokens:,} tokens, ${spent:.4f} of "
        f"${limits.budget.usd:.2f} in {len(calls)} model calls",
        f"- Sandbox for checks: {sandbox}"
        + (" (tests ran UNSANDBOXED)" if sandbox == "none" else ""),
        f"- Model answers: {services.options.llm or 'live providers, as routed'}",
        *policy_lines(services.settings.policy),
        f"- Promotion: {'eligible' if decision.eligible else 'not eligible: ' + '; '.join(decision.reasons)}",
        *_baseline_lines(services.run_dir),
        f"- Stack profile: {services.strategy.stack_profile or 'unknown'} "
        f"({services.strategy.stack_reason or 'not resolved'})",
        *(f"- Reuse, phase {d.phase_id}: {d.reason}" for d in services.strategy.reuse_decisions),
        "",
    ]
    for tier in run.tiers:
        lines += [
            f"## Tier {tier.tier_id}: {tier.name} — {tier.state.value}"
            + (f", {tier.cleanliness.value}" if tier.cleanliness else ""),
            "",
            *_phase_rows(services, run, tier.tier_id),
            "",
        ]
    incidents = sorted((services.run_dir / INCIDENTS_DIR).glob("*/REPLAY.md"))
    if incidents:
        lines += ["## Incidents", ""]
        lines += [f"- `{path.parent}`" for path in incidents]
        lines.append("")
    path = services.run_dir / SUMMARY_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
