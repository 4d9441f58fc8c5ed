"""`autopack init`: detect how a repository is tested and write a commented autopack.toml for it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from autopack.apply.policy import WritePolicy
from autopack.config import (
    DEFAULT_PROTECTED_PATHS,
    RUNS_DIR,
    EnvironmentSection,
    RuntimeSection,
    SandboxSection,
    ServerSection,
    WorkspaceSection,
)
from autopack.domain.vocabulary import CIProfile
from autopack.errors import ConfigError
from autopack.store.engine import DEFAULT_SQLITE
from autopack.strategy.routing import Routing
from autopack.strategy.ruleset import Ruleset

CICommands = dict[CIProfile, dict[str, str]]


def _pyproject_tools(repo: Path) -> set[str]:
    path = repo / "pyproject.toml"
    if not path.exists():
        return set()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return set()
    tools = set(data.get("tool", {}))
    text = path.read_text(encoding="utf-8")
    return tools | {name for name in ("pytest", "ruff", "mypy") if name in text}


def _npm_scripts(repo: Path) -> dict[str, str]:
    path = repo / "package.json"
    if not path.exists():
        return {}
    try:
        scripts = json.loads(path.read_text(encoding="utf-8")).get("scripts", {})
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return {}
    return scripts if isinstance(scripts, dict) else {}


def detect_ci_commands(repo: Path) -> CICommands:
    """Test, lint and type-check commands this repo already uses; strict adds the slower checks."""
    normal: dict[str, str] = {}
    strict_extra: dict[str, str] = {}
    tools = _pyproject_tools(repo)
    if tools or (repo / "setup.py").exists() or (repo / "tests").is_dir():
        normal["tests"] = "python -m pytest -q"
        if "ruff" in tools:
            normal["lint"] = "ruff check ."
        if "mypy" in tools:
            strict_extra["typecheck"] = "mypy"
    scripts = _npm_scripts(repo)
    if "test" in scripts:
        normal.setdefault("tests", "npm test")
    if "lint" in scripts:
        normal.setdefault("lint", "npm run lint")
    if "typecheck" in scripts:
        strict_extra.setdefault("typecheck", "npm run typecheck")
    if (repo / "go.mod").exists():
        normal.setdefault("tests", "go test ./...")
        strict_extra.setdefault("vet", "go vet ./...")
    if (repo / "Cargo.toml").exists():
        normal.setdefault("tests", "cargo test")
        strict_extra.setdefault("clippy", "cargo clippy -- -D warnings")
    return {CIProfile.NORMAL: normal, CIProfile.STRICT: {**normal, **strict_extra}}


def _toml_string(value: str) -> str:
    return json.dumps(value)


def _commands_table(profile: CIProfile, commands: dict[str, str]) -> str:
    lines = [f"[ci.{profile.value}.commands]"]
    if not commands:
        lines.append('# tests = "python -m pytest -q"   # nothing detected: add your own')
    lines.extend(f"{name} = {_toml_string(command)}" for name, command in commands.items())
    return "\n".join(lines)


def render_config(project_id: str, commands: CICommands) -> str:
    """A commented autopack.toml whose commented values are exactly the shipped defaults."""
    rules = Ruleset()
    routing = Routing()
    policy = WritePolicy()
    workspace = WorkspaceSection()
    sandbox = SandboxSection()
    environment = EnvironmentSection()
    server = ServerSection()
    runtime = RuntimeSection()
    protected = ", ".join(_toml_string(path) for path in DEFAULT_PROTECTED_PATHS)
    complexity = "\n".join(
        f"# {level.value} = {{ token_cap = {budget.token_cap}, usd_cap = {budget.usd_cap} }}"
        for level, budget in rules.complexity.items()
    )
    high_risk = "\n".join(
        f"# {category.value} = {{ max_builder_attempts = {rule.max_builder_attempts}, "
        f"max_auditor_attempts = {rule.max_auditor_attempts}, "
        f"incident_token_cap = {rule.incident_token_cap}, incident_usd_cap = {rule.incident_usd_cap} }}"
        for category, rule in rules.high_risk.items()
    )
    modes = "\n".join(
        f"# {mode.value} = {{ max_builder_attempts = {rule.max_builder_attempts}, token_cap = {rule.token_cap} }}"
        for mode, rule in rules.modes.items()
    )
    return f"""\
# Autopack configuration. Every commented value is the shipped default:
# uncomment a line to change it. Every key explained: `autopack help config`

[project]
id = {_toml_string(project_id)}
# name = ""   # display name

# Commands the Verifier runs in the attempt's worktree, in order, per CI profile.
# High-risk phases and safety_critical runs use `strict`.
{_commands_table(CIProfile.NORMAL, commands[CIProfile.NORMAL])}

{_commands_table(CIProfile.STRICT, commands[CIProfile.STRICT])}

[policy]               # what a patch may write; judged on the entries git will record
# Always protected unless named in `unprotect`: {protected}
# protected_paths = []   # more globs to protect, on top of those
# unprotect = []         # defaults given up, shown by `autopack plan` and in RUN_SUMMARY.md
# symlinks = []          # globs where a symlink to a path inside the repository may be created
# allow_binary = {str(policy.allow_binary).lower()}
# max_files = {policy.max_files}
# max_changed_lines = {policy.max_changed_lines}
# max_bytes = {policy.max_bytes}

[workspace]
# worktree_root = "{workspace.worktree_root}"   # relative to the repo, or absolute (e.g. /dev/shm/autopack)

[sandbox]              # commands see the system, Autopack's Python, PATH and the worktree; nothing else
# readable = {list(sandbox.readable)}   # extra host paths they may read, e.g. "~/.pyenv" or a shared venv; relative to the repo

[environment]          # what CI commands import: the worktree's code, in the project's environment
# python = "{environment.python}"   # "uv": built from the project's declarations; "inherit": the caller's

[server]               # what `autopack serve` accepts
# max_body_bytes = {server.max_body_bytes}
# body_timeout_seconds = {server.body_timeout_seconds:g}
# header_timeout_seconds = {server.header_timeout_seconds:g}

[runtime]              # this process's clocks; AUTOPACK_<KEY> in the environment overrides each
# worker_poll_seconds = {runtime.worker_poll_seconds:g}
# heartbeat_seconds = {runtime.heartbeat_seconds:g}
# stale_seconds = {runtime.stale_seconds:g}
# worker_concurrency = {runtime.worker_concurrency}   # runs one worker executes at once
# global_concurrency = {runtime.global_concurrency}   # runs executing at once over all workers; 0: no limit
# remote_lease_seconds = {runtime.remote_lease_seconds}   # a remote Builder's claim, unless renewed
# remote_claim_wait_seconds = {runtime.remote_claim_wait_seconds:g}   # an unclaimed remote attempt ends

[ruleset]
# safety_profile = "{rules.safety_profile.value}"   # or "safety_critical"
# builder = "{rules.builder.value}"   # or "aider", "claude-code", "codex" (on PATH), "remote"
# allow_auto_apply_high_risk = {str(rules.allow_auto_apply_high_risk).lower()}
# max_auditor_attempts = {rules.max_auditor_attempts}
# policy_violation_ends_run = {str(rules.policy_violation_ends_run).lower()}   # false: the Builder retries instead

[ruleset.run]
# token_cap = {rules.run.token_cap}
# usd_cap = {rules.run.usd_cap}
# max_phases = {rules.run.max_phases}
# max_duration_minutes = {rules.run.max_duration_minutes}
# minor_issues_per_phase = {rules.run.minor_issues_per_phase}   # max_minor_issues_total = phases x this
# max_parallel_phases = {rules.run.max_parallel_phases}   # phases of a tier built at once

[ruleset.complexity]   # per-phase budgets by complexity
{complexity}

[ruleset.high_risk]    # per high-risk category
{high_risk}

[ruleset.modes]        # Builder modes: the phase token cap is the lower of mode and complexity
{modes}

[ruleset.tier]
# token_cap_factor = {rules.tier.token_cap_factor}   # tier tokens = factor x sum of its phases' incident caps
# usd_cap_factor = {rules.tier.usd_cap_factor}
# ci_runs_per_phase = {rules.tier.ci_runs_per_phase}
# minor_issues_per_phase_normal = {rules.tier.minor_issues_per_phase_normal}
# minor_issues_per_phase_safety_critical = {rules.tier.minor_issues_per_phase_safety_critical}
# major_issues_per_phase_normal = {rules.tier.major_issues_per_phase_normal}
# major_issues_safety_critical = {rules.tier.major_issues_safety_critical}

[ruleset.aging]        # backlog minors older than this become effective majors
# runs = {rules.aging.runs}
# tiers = {rules.aging.tiers}

[ruleset.reuse]        # phases asking for a catalog feature of the project's stack
# enabled = {str(rules.reuse.enabled).lower()}
# token_budget_reduction = {rules.reuse.token_budget_reduction}
# min_quality = {rules.reuse.min_quality}

[ruleset.builder_context]  # how the built-in Builder keeps its conversation bounded
# elide_after_steps = {rules.builder_context.elide_after_steps}   # observations this old become one-line stubs
# keep_last_observations = {rules.builder_context.keep_last_observations}   # the latest stay whole
# elide_block = {rules.builder_context.elide_block}   # stubbed this many at a time (the cached prefix changes once a block)
# summarise_at_share = {rules.builder_context.summarise_at_share}   # of the model's window: earlier steps summarised by `fast`

[routing]              # which alias serves each level; high-risk phases always get `top`
# top = "{routing.top}"
# standard = "{routing.standard}"
# fast = "{routing.fast}"
# policy = "{routing.policy.value}"  # the Builder's alias from the project's record; "static": the table only
# min_observations = {routing.min_observations}  # learned: ended phases before a model is compared
# confidence = {routing.confidence}  # learned: level of the success rate's lower bound

# Model aliases: shipped ones can be overridden, new ones added. Keys are read
# from the environment variable named here, never from this file.
# [models.aliases.local]
# provider = "openai_compatible"
# model = "qwen2.5-coder:14b"
# base_url = "http://127.0.0.1:11434/v1"
"""


def write_config(repo: Path, project_id: str, *, force: bool = False) -> Path:
    path = repo / "autopack.toml"
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it")
    try:
        path.write_text(render_config(project_id, detect_ci_commands(repo)), encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror}") from None
    return path


# Written by Autopack inside the repository: its database and worktrees, and each run's artefacts.
AUTOPACK_FOLDERS = (f"{DEFAULT_SQLITE.parts[0]}/", f"{RUNS_DIR}/")


def _ignores(line: str, folder: str) -> bool:
    name = folder.rstrip("/")
    return line.strip() in {name, folder, f"/{name}", f"/{folder}"}


def ignore_autopack_folders(repo: Path) -> list[str]:
    """Add Autopack's folders to the repository's .gitignore, once each; returns those added.

    Without them `git add -A` would commit the database and the runs' transcripts.
    """
    path = repo / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        lines = text.splitlines()
        missing = [f for f in AUTOPACK_FOLDERS if not any(_ignores(line, f) for line in lines)]
        if missing:
            separator = "\n" if text and not text.endswith("\n") else ""
            path.write_text(text + separator + "".join(f"{f}\n" for f in missing), "utf-8")
    except OSError as error:
        raise ConfigError(f"cannot update {path}: {error.strerror}") from None
    return missing
