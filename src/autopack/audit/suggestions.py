"""The Auditor's suggested patches, applied like any other patch: policy first, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autopack.apply.formats.detect import parse_patch_text
from autopack.apply.governed import apply_governed
from autopack.apply.policy import WritePolicy
from autopack.audit.findings import Finding
from autopack.errors import PatchApplyError, PatchFormatError, PolicyViolation


@dataclass(frozen=True)
class SuggestionOutcome:
    issue_key: str
    applied: bool
    detail: str


def apply_suggestions(
    root: Path, findings: Sequence[Finding], policy: WritePolicy
) -> list[SuggestionOutcome]:
    """Each finding's patch on its own: one that does not fit leaves the tree as the others left it."""
    outcomes = []
    for finding in findings:
        if not finding.suggested_patch:
            continue
        try:
            result = apply_governed(root, parse_patch_text(finding.suggested_patch), policy)
        except PolicyViolation as violation:
            outcomes.append(SuggestionOutcome(finding.issue_key, False, f"refused: {violation}"))
        except (PatchFormatError, PatchApplyError) as error:
            outcomes.append(SuggestionOutcome(finding.issue_key, False, f"not applied: {error}"))
        else:
            touched = ", ".join([*result.written, *result.deleted]) or "nothing (already applied)"
            outcomes.append(SuggestionOutcome(finding.issue_key, True, f"applied to {touched}"))
    return outcomes
