"""What prompt caching saves per Builder phase: USD and input tokens, caching off and on.

Replays fixed Builder conversations through the fake Anthropic and OpenAI servers (which count
input from each request and bill caching as the providers do) on the real model stack
(run/services.budgeted_model: resilient -> budgeted -> official SDK). Each conversation is one
phase of real history: a commit of a mirrored repository (pallets/click, encode/httpx,
more-itertools) becomes the task (its message), the repository map (its tree), the observations
(files read at the parent commit, numbered as read_file numbers them, `git grep` hits for names
the commit touches, test listings) and the edits (its diff); 30 to 60 steps each, the Builder's
real instructions. The fake model's script follows a per-conversation step counter, so a history
processor that rewrites the conversation (context elision) replays the same steps.

Configurations are CONFIGS; bench/cost.py adds "caching and elision" (builder/context.py's elider).

Run: PYTHONPATH=src .venv/bin/python bench/cost_caching.py [--cases N] [--mirrors DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_ai import Agent, ToolOutput
from pydantic_ai.capabilities.process_history import ProcessHistory
from pydantic_ai.messages import ModelMessage
from pydantic_ai.usage import UsageLimits

from autopack.builder.prompts import INSTRUCTIONS
from autopack.config import Settings, load_settings
from autopack.domain.vocabulary import Role
from autopack.llm.budget import BudgetLedger
from autopack.llm.budgeted import CallContext
from autopack.llm.resilience import CircuitBreakers
from autopack.run.services import RunOptions, budgeted_model
from autopack.store.ledger import LlmCallRecord
from autopack.testing.fake_llm import FakeLLMServer, Reply, ToolCall, fake_llm_server

HistoryProcessor = Callable[[list[ModelMessage]], list[ModelMessage]]
MIRRORS = Path("/work/.mirror")
REPOS = ("pallets+click", "encode+httpx", "more-itertools+more-itertools")
ALIASES = ("anthropic-standard", "openai-standard")
MAX_READ_LINES = 400  # as the Builder's read_file


@dataclass(frozen=True)
class Config:
    name: str
    caching: bool
    history: HistoryProcessor | None = None


CONFIGS: list[Config] = [Config("caching off", False), Config("caching on", True)]


@dataclass(frozen=True)
class Step:
    tool: str
    arguments: dict[str, Any]
    observation: str
    output_tokens: int


@dataclass(frozen=True)
class Case:
    name: str
    task: str
    steps: tuple[Step, ...]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], capture_output=True, text=True, errors="replace"
    ).stdout


def numbered(path: str, text: str) -> str:
    lines = text.splitlines()
    end = min(MAX_READ_LINES, len(lines))
    body = "\n".join(f"{n:>5}│{lines[n - 1]}" for n in range(1, end + 1))
    return body + f"\n({path}: lines 1-{end} of {len(lines)})"


def commits(repo: Path, wanted: int) -> list[str]:
    """Recent non-merge commits changing one to four Python files: a phase-sized change."""
    chosen = []
    for sha in git(repo, "rev-list", "--no-merges", "--max-count=400", "HEAD").split():
        changed = git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", sha).split()
        python = [path for path in changed if path.endswith(".py")]
        if 1 <= len(python) <= 4 and len(changed) <= 6:
            chosen.append(sha)
        if len(chosen) == wanted:
            break
    return chosen


def case_from(repo: Path, sha: str, index: int) -> Case:
    parent = f"{sha}^"
    message = git(repo, "log", "-1", "--format=%s%n%n%b", sha).strip()
    tree = git(repo, "ls-tree", "-r", "--name-only", parent).split()
    changed = [
        p
        for p in git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", sha).split()
        if p in tree
    ]
    python = [path for path in tree if path.endswith(".py")]
    neighbours = [
        p for p in python if p not in changed and p.split("/")[0] == changed[0].split("/")[0]
    ]
    reads = (changed + neighbours + python)[:40]
    diff = git(repo, "diff", "--unified=3", parent, sha, "--", *changed)
    names = sorted(
        {
            word
            for line in diff.splitlines()
            if line.startswith(("+def ", "-def ", "+    def ", "-    def ", "+class "))
            for word in [line.split("def ")[-1].split("class ")[-1].split("(")[0].strip(": ")]
            if word.isidentifier()
        }
    ) or ["self"]
    tests = [p for p in python if "test" in p]
    total = 30 + (index * 11) % 31  # 30 to 60 steps
    steps: list[Step] = [
        Step("list_files", {"directory": "."}, "\n".join(tree[:500]), 30),
    ]
    position = 0
    while len(steps) < total - 3:
        kind = position % 4
        if kind in (0, 1, 2):
            path = reads[position % len(reads)]
            text = git(repo, "show", f"{parent}:{path}")
            steps.append(Step("read_file", {"path": path}, numbered(path, text), 40))
        else:
            name = names[position % len(names)]
            hits = git(repo, "grep", "-n", "-w", name, parent, "--", "*.py").splitlines()[:100]
            steps.append(Step("search_text", {"pattern": name}, "\n".join(hits) or "(no hits)", 35))
        position += 1
    listing = "\n".join(f"{t}::test_{n} PASSED" for n, t in enumerate(tests[:60]))
    steps.append(Step("edit", {"edits": [{"op": "diff", "text": diff[:12_000]}]}, "applied", 900))
    steps.append(Step("run_command", {"command": "pytest -q"}, listing or "ok", 30))
    steps.append(Step("run_command", {"command": "ruff check"}, "All checks passed!", 25))
    task = (
        f"# Phase {index + 1}: {message.splitlines()[0]}\n\n{message}\n\n"
        f"Scope (stay within these paths):\n"
        + "\n".join(f"- {p}" for p in changed)
        + "\n\nRepository map (the definitions most relevant to this phase):\n"
        + "\n".join(tree[:200])
    )
    return Case(f"{repo.parent.name}@{sha[:8]}", task, tuple(steps))


def cases(mirrors: Path, wanted: int) -> list[Case]:
    """`wanted` phases, taken from the repositories in turn; the n-th has 30 + 11n mod 31 steps."""
    per_repo = max(1, -(-wanted // len(REPOS)))
    chosen = [
        (mirrors / repo / "repo", sha)
        for repo in REPOS
        for sha in commits(mirrors / repo / "repo", per_repo)
    ]
    return [case_from(repo, sha, number) for number, (repo, sha) in enumerate(chosen[:wanted])]


@dataclass
class Replay:
    """The fake model's script: the current case's next step, whatever history it is sent."""

    case: Case | None = None
    step: int = 0

    def __call__(self, api: str, request: dict[str, Any]) -> Reply:
        assert self.case is not None
        if self.step >= len(self.case.steps):
            return Reply(tool_calls=(ToolCall(name="finish", arguments={"summary": "done"}),))
        step = self.case.steps[self.step]
        self.step += 1
        return Reply(
            tool_calls=(ToolCall(name=step.tool, arguments=step.arguments),),
            output_tokens=step.output_tokens,
        )


@dataclass
class Recorded:
    calls: list[LlmCallRecord] = field(default_factory=list)

    def record(self, call: LlmCallRecord) -> None:
        self.calls.append(call)


def agent_for(model: Any, case: Case, config: Config) -> Agent[None, str]:
    observations = iter(step.observation for step in case.steps)

    def observe() -> str:
        return next(observations, "ok")

    def list_files(directory: str = ".") -> str:
        """List the worktree's files."""
        return observe()

    def read_file(path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Read a file's lines, numbered."""
        return observe()

    def search_text(pattern: str, path_glob: str = "*") -> str:
        """Search the worktree's text."""
        return observe()

    def edit(edits: list[dict[str, Any]]) -> str:
        """Edit files."""
        return observe()

    def run_command(command: str) -> str:
        """Run a command in the worktree."""
        return observe()

    def finish(summary: str) -> str:
        """The task is done."""
        return "finished"

    return Agent(
        model,
        instructions=INSTRUCTIONS,
        tools=[list_files, read_file, search_text, edit, run_command],
        output_type=ToolOutput(finish, name="finish"),
        capabilities=[ProcessHistory(config.history)] if config.history else [],
    )


def settings_for(root: Path, server: FakeLLMServer, config: Config) -> Settings:
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for alias in ALIASES:
        base = (
            server.anthropic_base_url if alias.startswith("anthropic") else server.openai_base_url
        )
        lines.append(
            f'[models.aliases.{alias}]\nbase_url = "{base}"\n'
            f"prompt_caching = {'true' if config.caching else 'false'}\n"
        )
    (root / "autopack.toml").write_text("\n".join(lines), encoding="utf-8")
    return load_settings(root)


@dataclass(frozen=True)
class PhaseCost:
    case: str
    alias: str
    config: str
    calls: int
    input_tokens: int
    cached_tokens: int
    written_tokens: int
    usd: Decimal
    billed_usd: Decimal


def replay(case_list: Sequence[Case], alias: str, config: Config, work: Path) -> list[PhaseCost]:
    script = Replay()
    results = []
    with fake_llm_server(script, usage_from_request=True) as server:
        settings = settings_for(work / f"{alias}-{config.name.replace(' ', '-')}", server, config)
        for number, case in enumerate(case_list):
            script.case, script.step = case, 0
            recorded, bills_before = Recorded(), len(server.bills)
            context = CallContext("bench", Role.BUILDER, "1", case.name, number + 1)
            model = budgeted_model(
                alias,
                settings=settings,
                options=RunOptions(),
                env={"ANTHROPIC_API_KEY": "test-key", "OPENAI_API_KEY": "test-key"},
                ledger=BudgetLedger(),
                context=context,
                recorder=recorded,
                transcripts=None,
                breakers=CircuitBreakers(),
            )
            # The Builder's own step limit is larger than pydantic-ai's default of 50 requests.
            agent_for(model, case, config).run_sync(
                case.task, usage_limits=UsageLimits(request_limit=None)
            )
            by_model = {a.model: a for a in settings.aliases.values()}
            billed = sum(
                (bill.usd(by_model[bill.model]) for bill in server.bills[bills_before:]),
                Decimal(0),
            )
            calls = recorded.calls
            results.append(
                PhaseCost(
                    case=case.name,
                    alias=alias,
                    config=config.name,
                    calls=len(calls),
                    input_tokens=sum(c.input_tokens for c in calls),
                    cached_tokens=sum(c.cached_input_tokens for c in calls),
                    written_tokens=sum(c.cache_write_tokens for c in calls),
                    usd=sum((c.usd for c in calls), Decimal(0)),
                    billed_usd=billed,
                )
            )
    return results


def run_configs(
    case_list: Sequence[Case], configs: Sequence[Config], work: Path
) -> list[PhaseCost]:
    rows: list[PhaseCost] = []
    for alias in ALIASES:
        for config in configs:
            rows += replay(case_list, alias, config, work)
    return rows


def summary(rows: Sequence[PhaseCost], configs: Sequence[Config]) -> list[str]:
    """USD and input tokens per phase for each alias and configuration, against the first."""
    lines = [f"{'alias':<19} {'config':<22} {'USD/phase':>10} {'input/phase':>12} {'vs first':>9}"]
    for alias in ALIASES:
        baseline = None
        for config in configs:
            mine = [r for r in rows if r.alias == alias and r.config == config.name]
            usd = sum((r.usd for r in mine), Decimal(0)) / len(mine)
            tokens = sum(r.input_tokens for r in mine) // len(mine)
            baseline = baseline or usd
            change = f"{(usd / baseline - 1) * 100:+.0f}%"
            lines.append(f"{alias:<19} {config.name:<22} {usd:>10.4f} {tokens:>12} {change:>9}")
    lines.append(
        "(OpenAI caches repeated prefixes unasked: 'caching off' there only sends no cache key)"
    )
    mismatched = [r for r in rows if r.usd != r.billed_usd]
    lines.append(
        f"ledger USD equals the fake provider's bill on {len(rows) - len(mismatched)} of "
        f"{len(rows)} phases"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    case_list = cases(args.mirrors, args.cases)
    with tempfile.TemporaryDirectory() as folder:
        rows = run_configs(case_list, CONFIGS, Path(folder))
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], default=str, indent=1))
        return
    print(
        f"{'case':<40} {'alias':<19} {'config':<22} {'calls':>5} {'input':>9} {'cached':>9} "
        f"{'written':>8} {'USD':>9}"
    )
    for row in rows:
        print(
            f"{row.case:<40} {row.alias:<19} {row.config:<22} {row.calls:>5} "
            f"{row.input_tokens:>9} {row.cached_tokens:>9} {row.written_tokens:>8} "
            f"{row.usd:>9.4f}"
        )
    print()
    print("\n".join(summary(rows, CONFIGS)))


if __name__ == "__main__":
    main()
