"""A project whose plan is independent chains of phases, and the scripted developer that builds it.

One tier; phase `c{k}-s{j}` adds `step{j}` to `pkg/chain{k}.py` with its own test and
`depends_on` the chain's previous step, whose function it calls. Chains touch disjoint files, so
any number of them may be built at once without conflicts, while a step landed before its
predecessor would fail its own test. The developer answers each Builder conversation with that
phase's edit, then finishes; feature phases of low complexity are never audited.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopack.testing.fake_llm import Reply, ToolCall

PLAN_FILE = "comprehensive_plan.md"
_PHASE = re.compile(r"^# Phase c(\d+)-s(\d+):", re.M)
_END = "# (steps end here)\n"


@dataclass(frozen=True)
class Chains:
    """`chains` chains of `steps` phases each, and the CI profile every commit must pass."""

    chains: int = 4
    steps: int = 4
    ci_seconds: float = 2.0
    python: str = sys.executable

    def phase_ids(self) -> list[str]:
        return [f"c{k}-s{j}" for k in range(1, self.chains + 1) for j in range(1, self.steps + 1)]

    def ci_commands(self) -> dict[str, str]:
        """The `normal` profile, in order: a pause standing for a slower suite, then pytest."""
        return {
            "pause": f'{self.python} -c "import time; time.sleep({self.ci_seconds:g})"',
            "tests": f"{self.python} -m pytest -q -p no:cacheprovider tests",
        }


def step_value(chain: int, step: int) -> int:
    return 100 * chain + step


def _plan(chains: Chains) -> str:
    phases = []
    for k in range(1, chains.chains + 1):
        for j in range(1, chains.steps + 1):
            depends = f"depends_on: c{k}-s{j - 1}\n" if j > 1 else ""
            phases.append(
                f"### Phase c{k}-s{j}: Chain {k} step {j}\n"
                "category: feature\n"
                "complexity: low\n"
                f"scope: pkg/chain{k}.py, tests/test_chain{k}_step{j}.py\n"
                f"acceptance: tests/test_chain{k}_step{j}.py\n"
                f"{depends}\n"
                f"Add `step{j}()` to pkg/chain{k}.py returning {step_value(k, j)}"
                + (f", built on `step{j - 1}()`" if j > 1 else "")
                + ", with a unit test.\n"
            )
    return (
        "# Independent chains\n\n"
        f"{chains.chains} chains of {chains.steps} steps; each step needs the one before it.\n\n"
        "## Tier 1: Chains\n\n" + "\n".join(phases)
    )


def _config(chains: Chains, base_url: str, extra: str) -> str:
    commands = "".join(f"{name} = '{command}'\n" for name, command in chains.ci_commands().items())
    aliases = "".join(
        f'\n[models.aliases.{alias}]\nbase_url = "{base_url}"\n'
        for alias in ("openai-standard", "openai-fast")
    )
    return (
        '[project]\nid = "chains"\n\n'
        '[routing]\ntop = "openai-standard"\nstandard = "openai-standard"\nfast = "openai-fast"\n\n'
        f"[ci.normal.commands]\n{commands}{aliases}\n{extra}"
    )


def create_chains_project(
    root: Path, chains: Chains, base_url: str, *, extra_config: str = ""
) -> Path:
    """A fresh git repository at `root` (absent or empty) on `main`; returns the plan's path."""
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    files = {
        "pkg/__init__.py": '"""Chains of steps, grown phase by phase."""\n',
        "tests/test_package.py": "import pkg\n\n\ndef test_imports() -> None:\n"
        "    assert pkg.__doc__\n",
        ".gitignore": "__pycache__/\n.autopack/\n.autonomous_runs/\n",
        PLAN_FILE: _plan(chains),
        "autopack.toml": _config(chains, base_url, extra_config),
    }
    for k in range(1, chains.chains + 1):
        files[f"pkg/chain{k}.py"] = (
            f'"""Chain {k}: each step builds on the previous one."""\n\n{_END}'
        )
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for command in (
        ["init", "--quiet", "--initial-branch=main"],
        ["add", "--all"],
        ["commit", "--quiet", "-m", "Chains with no steps yet"],
    ):
        subprocess.run(
            ["git", "-c", "user.name=Bench", "-c", "user.email=bench@autopack.invalid", *command],
            cwd=root,
            check=True,
            capture_output=True,
        )
    return root / PLAN_FILE


def step_edits(chain: int, step: int) -> list[dict[str, Any]]:
    """The edit phase c{chain}-s{step} asks for: the step's function and its test."""
    body = f"step{step - 1}() + 1" if step > 1 else str(step_value(chain, step))
    function = f"def step{step}() -> int:\n    return {body}\n\n\n"
    test = (
        f"from pkg.chain{chain} import step{step}\n\n\n"
        f"def test_step{step}() -> None:\n"
        f"    assert step{step}() == {step_value(chain, step)}\n"
    )
    return [
        {"op": "str_replace", "path": f"pkg/chain{chain}.py", "old": _END, "new": function + _END},
        {"op": "create", "path": f"tests/test_chain{chain}_step{step}.py", "content": test},
    ]


def _first_user_text(request: dict[str, Any]) -> str:
    for message in request.get("messages", []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def chains_developer(latency: float) -> Callable[[str, dict[str, Any]], Reply]:
    """Answers after `latency` seconds (the server sleeps, as a provider would think): the
    phase's edit to a Builder's first turn, `finish` to its next; a clean report to an Auditor."""

    def reply(api: str, request: dict[str, Any]) -> Reply:
        tools = {str((t.get("function") or t).get("name")) for t in request.get("tools", [])}
        if "report" in tools:
            report = {"summary": "The change does what the phase asks.", "findings": []}
            return Reply(tool_calls=(ToolCall(name="report", arguments=report),), delay=latency)
        phase = _PHASE.search(_first_user_text(request))
        answered = any(m.get("role") == "tool" for m in request.get("messages", []))
        if phase is None or answered:
            done = {"summary": "Step added with its test."}
            return Reply(tool_calls=(ToolCall(name="finish", arguments=done),), delay=latency)
        edits = step_edits(int(phase.group(1)), int(phase.group(2)))
        return Reply(tool_calls=(ToolCall(name="edit", arguments={"edits": edits}),), delay=latency)

    return reply
