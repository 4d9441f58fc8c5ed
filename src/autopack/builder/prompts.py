"""The Builder's instructions and the task message for one attempt."""

from __future__ import annotations

from autopack.builder.base import BuildRequest
from autopack.builder.modes import ModeProfile

INSTRUCTIONS = """You are the Builder of Autopack: you change a git worktree so that one phase of a plan is done.
Work only through the tools. Read before you edit: list files, search, read the relevant lines.
Edit with the edit tool (str_replace needs the exact old text, including indentation; insert adds
text after a line number; create writes a new file; delete removes one). If an edit does not apply,
read the diagnostic, re-read the file, and correct the edit rather than repeating it.
A patch already written as text (a unified diff, SEARCH/REPLACE blocks, a '*** Begin Patch'
envelope, such as a patch the Auditor suggested) goes through apply_patch as it is.
Run the project's tests or checks with run_command to confirm your change works.
Never try to change files outside the worktree or under .git; such edits are refused.
When the task is done (or cannot be done), call finish with a short summary of what you changed
and, as suggested issues, anything you noticed but left alone."""


def task_message(request: BuildRequest, profile: ModeProfile, repo_map: str) -> str:
    phase = request.phase
    parts = [f"# Phase {phase.phase_id}: {phase.title}", ""]
    if phase.description:
        parts += [phase.description.strip(), ""]
    if phase.acceptance:
        parts += ["Acceptance criteria:", *(f"- {item}" for item in phase.acceptance), ""]
    if phase.reuse is not None:
        reuse = phase.reuse
        parts += [
            f"Reuse rather than write: adapt {reuse.feature_name} from {reuse.source_repo} "
            f"({reuse.path}, {reuse.licence}). Keep its licence notice, change only what this "
            "project needs, and cover it with tests.",
            "",
        ]
    if phase.scope:
        parts += ["Scope (stay within these paths):", *(f"- {item}" for item in phase.scope), ""]
    parts += [f"Mode: {phase.builder_mode.value}. {profile.guidance}", ""]
    if request.feedback:
        parts += [f"This is attempt {request.attempt}. Earlier attempts left this to fix:"]
        for item in request.feedback:
            parts.append(f"- [{item.kind.value}] {item.summary}")
            if item.detail:
                parts.append("  " + item.detail.strip().replace("\n", "\n  "))
        parts.append("")
    if repo_map:
        parts += ["Repository map (the definitions most relevant to this phase):", repo_map]
    return "\n".join(parts)
