"""What eliding old observations saves over a long Builder attempt (builder/context.py).

A scripted attempt of --steps steps on a real repository: windowed reads of its source files
(through the Builder's own read_file), searches, test runs and a few edits, as pydantic-ai
messages. Each request is what the agent sends at that step, with the history as the processor
left it (pydantic-ai keeps the processed history). For each we count the input tokens (o200k;
messages plus the instructions and a 2,000-token allowance for tool schemas), the tokens after the
prefix it shares with the previous request (what a provider's prefix cache cannot serve), and
whether the prefix changed. Run with and without elision.

Run: .venv/bin/python bench/context.py --repo /path/to/bare-mirror [--steps 44] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from autopack.apply.policy import WritePolicy
from autopack.builder.context import elide_observations
from autopack.builder.prompts import INSTRUCTIONS
from autopack.builder.repomap import RepoMap
from autopack.builder.tools import WorktreeTools, clip
from autopack.llm.tokens import count_tokens
from autopack.strategy.ruleset import BuilderContextRules
from autopack.verify.bubblewrap import NoSandbox

TOOL_SCHEMA_TOKENS = 2_000
TEST_OUTPUT = "".join(
    f"tests/test_module_{n}.py::test_case_{m} PASSED\n" for n in range(12) for m in range(8)
)


def _checkout(mirror: Path, into: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(mirror), "archive", "HEAD"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def _actions(tools: WorktreeTools, steps: int) -> list[tuple[str, dict[str, object], str]]:
    """The attempt's steps: mostly reads, walking the largest source files window by window."""
    sources = sorted(
        (p for p in tools.root.rglob("*.py") if "test" not in p.as_posix()),
        key=lambda p: -p.stat().st_size,
    )[:8]
    windows = [
        (p.relative_to(tools.root).as_posix(), start)
        for p in sources
        for start in range(1, min(len(p.read_text(errors="replace").splitlines()), 800), 200)
    ]
    actions: list[tuple[str, dict[str, object], str]] = []
    for step in range(steps):
        if step % 10 == 9:
            output = f"exit code 1 after 3.2s\n{clip(TEST_OUTPUT)}"
            actions.append(("run_command", {"command": "pytest -q"}, output))
        elif step % 7 == 6:
            pattern = ["def ", "class ", "import ", "return "][step % 4]
            actions.append(("search_text", {"pattern": pattern}, tools.search_text(pattern)))
        else:
            path, start = windows[step % len(windows)]
            arguments: dict[str, object] = {"path": path, "start_line": start}
            actions.append(("read_file", arguments, tools.read_file(path, start)))
    return actions


def _tokens(message: ModelMessage) -> int:
    total = 0
    for part in message.parts:
        if isinstance(part, ToolReturnPart):
            total += count_tokens(part.model_response_str())
        elif isinstance(part, ToolCallPart):
            total += count_tokens(part.args_as_json_str()) + 4
        elif isinstance(part, UserPromptPart):
            total += count_tokens(str(part.content))
    return total + 4


@dataclass
class Totals:
    input_tokens: int = 0
    uncached_tokens: int = 0
    prefix_changes: int = 0
    largest_request: int = 0


def measure(
    task: str,
    actions: list[tuple[str, dict[str, object], str]],
    rules: BuilderContextRules | None,
) -> Totals:
    fixed = count_tokens(INSTRUCTIONS) + TOOL_SCHEMA_TOKENS
    history: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart(task)])]
    previous: list[ModelMessage] = []
    totals = Totals()
    for number in range(len(actions) + 1):
        if rules is not None:
            history = elide_observations(history, rules)
        sizes = [_tokens(message) for message in history]
        shared = 0
        while shared < min(len(previous), len(history)) and previous[shared] == history[shared]:
            shared += 1
        request = fixed + sum(sizes)
        totals.input_tokens += request
        totals.uncached_tokens += sum(sizes[shared:]) + (0 if previous else fixed)
        totals.prefix_changes += bool(previous) and shared < len(previous)
        totals.largest_request = max(totals.largest_request, request)
        previous = list(history)
        if number == len(actions):
            break
        tool, arguments, observation = actions[number]
        call = ToolCallPart(tool, arguments, tool_call_id=f"call-{number}")
        answer = ToolReturnPart(tool, observation, tool_call_id=f"call-{number}")
        history = [*history, ModelResponse(parts=[call]), ModelRequest(parts=[answer])]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=44)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _checkout(args.repo, root)
        tools = WorktreeTools(root=root, sandbox=NoSandbox(), policy=WritePolicy())
        repo_map = RepoMap(root).rank("Fix option parsing of flag values", (), 2048).text
        task = f"# Phase 1.1: Fix option parsing\n\nRepository map:\n{repo_map}"
        actions = _actions(tools, args.steps)
    rules = BuilderContextRules()
    results = {
        "without elision": measure(task, actions, None),
        f"elision (N={rules.elide_after_steps}, k={rules.keep_last_observations}, "
        f"B={rules.elide_block})": measure(task, actions, rules),
        "elision, B=1 (every step)": measure(
            task, actions, rules.model_copy(update={"elide_block": 1})
        ),
    }
    if args.json:
        print(json.dumps({name: vars(totals) for name, totals in results.items()}, indent=2))
        return
    name = args.repo.name if args.repo.name != "repo" else args.repo.parent.name
    print(f"{args.steps} steps on {name}")
    # Billed as if cached input costs a tenth of fresh input, as OpenAI and Anthropic price it.
    header = ["input", "uncached", "billed@10%", "prefix chg", "largest"]
    print(f"{'':34} " + " ".join(f"{h:>10}" for h in header))
    for label, totals in results.items():
        billed = totals.uncached_tokens + (totals.input_tokens - totals.uncached_tokens) // 10
        row = [totals.input_tokens, totals.uncached_tokens, billed, totals.prefix_changes]
        print(
            f"{label:34} "
            + " ".join(f"{value:>10,}" for value in row)
            + f" {totals.largest_request:>10,}"
        )


if __name__ == "__main__":
    main()
