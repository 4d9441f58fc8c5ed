"""One line of text per progress event: what the CLI's live view prints and the dashboard lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = dict[str, Any]

_LINES: dict[str, Callable[[Event], str]] = {
    "run_started": lambda e: f"run {e['run_id']}: {e['phases']} phases",
    "baseline": lambda e: (
        "base commit: "
        + ", ".join(f"{n} failing test(s) under {p}" for p, n in e["failing"].items())
        + " (pre-existing, not blamed on phases)"
    ),
    "tier_started": lambda e: f"tier {e['tier']}",
    "phase_started": lambda e: f"  phase {e['phase']}: {e['title']}",
    "attempt": lambda e: (
        f"    attempt {e['attempt']}: {e['step']}"
        + (f" ({e['reason']})" if e.get("reason") else "")
        + (f" with {e['model']}" if e.get("model") else "")
    ),
    "built": lambda e: (
        f"    attempt {e['attempt']}: Builder {e['stop']}, {e['files']} file(s), "
        f"{e['tokens']:,} tokens, ${float(e['usd']):.4f}"
        + (
            f" (run: {e['run_tokens']:,} of {e['budget_tokens']:,} tokens, "
            f"${float(e['run_usd']):.4f} of ${float(e['budget_usd']):.2f})"
            if "run_tokens" in e
            else ""
        )
    ),
    "verified": lambda e: f"    checks {'passed' if e['passed'] else 'FAILED'}",
    "audited": lambda e: f"    Auditor: {e['findings']} finding(s), {e['majors']} major",
    "rejected": lambda e: (
        f"    rejected: {e['why']}" + (" (no attempts left)" if e["last"] else "")
    ),
    "issues": lambda e: (
        f"    issues: {len(e['raised'])} raised"
        + (f" ({', '.join(e['raised'][:5])})" if e["raised"] else "")
        + (f", {len(e['merged'])} seen again" if e["merged"] else "")
    ),
    "committed": lambda e: (
        f"    committed {e['commit'][:12]}"
        + (" (awaits approval before promotion)" if e.get("needs_approval") else "")
    ),
    "tier_finished": lambda e: f"tier {e['tier']} done: {e['cleanliness']}",
    "llm": lambda e: f"    model {e['alias']}: {e['what']} {e['detail']}",
    "incident": lambda e: f"    incident pack: {e['folder']}",
    "run_finished": lambda e: (
        f"run ended {e['state']}" + (f": {e['reason']}" if e.get("reason") else "")
    ),
}


def describe(event: Event) -> str | None:
    """The event as one line, or None for kinds nobody needs to read."""
    line = _LINES.get(event.get("kind", ""))
    return line(event) if line is not None else None
