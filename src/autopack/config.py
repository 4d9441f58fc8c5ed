"""Settings from `autopack.toml` and the environment, validated once at the edge and passed down."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autopack.apply.policy import DEFAULT_PROTECTED_PATHS as DEFAULT_PROTECTED_PATHS
from autopack.apply.policy import WritePolicy
from autopack.domain.vocabulary import CIProfile, RunScope
from autopack.errors import ConfigError, RepoError
from autopack.llm.aliases import ModelAlias, Provider, default_aliases
from autopack.store.engine import database_url_for
from autopack.strategy.routing import Routing
from autopack.strategy.ruleset import Ruleset

CONFIG_FILE = "autopack.toml"
RUNS_DIR = ".autonomous_runs"
PROJECT_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProjectSection(_Section):
    id: str = Field(pattern=PROJECT_ID_PATTERN)
    name: str = ""


class CIProfileCommands(_Section):
    """Named commands (tests, lint, typecheck, ...) run by the Verifier, in order."""

    commands: dict[str, str] = Field(default_factory=dict)


class WorkspaceSection(_Section):
    # Relative paths are inside the repository; /dev/shm makes worktrees of big repos much faster.
    worktree_root: Path = Path(".autopack") / "worktrees"


class SandboxSection(_Section):
    """What of the host, besides the system, the Python environment and PATH, commands may see."""

    # Extra host paths commands may read, e.g. a tool installation or a shared virtual environment;
    # relative paths are inside the repository, `~` is the user's home, missing ones are skipped.
    readable: tuple[Path, ...] = ()


class EnvironmentSection(_Section):
    """How the environment CI commands run in is made (docs/configuration.md, [environment])."""

    # auto: an isolated uv environment when the project declares its dependencies (uv.lock,
    # pyproject.toml, requirements*.txt) and uv is installed, else the caller's environment;
    # in both, the worktree's own code is imported first.
    python: Literal["auto", "uv", "inherit"] = "auto"


class ServerSection(_Section):
    """`autopack serve`: limits every request meets before anything else reads it."""

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1_024)
    body_timeout_seconds: float = Field(default=30, gt=0, le=3_600)
    header_timeout_seconds: float = Field(default=10, gt=0, le=3_600)


class RateLimit(_Section):
    """A provider's rate limit: at most `requests` calls started in any `seconds`."""

    requests: int = Field(ge=1, le=1_000_000)
    seconds: float = Field(default=60, gt=0, le=86_400)


class RuntimeSection(_Section):
    """How often this process checks in: each process's own, so never stored with a run."""

    worker_poll_seconds: float = Field(default=0.5, gt=0, le=3_600)  # an idle worker's look
    heartbeat_seconds: float = Field(default=5, gt=0, le=3_600)  # "this executor still drives it"
    stale_seconds: float = Field(default=60, gt=0, le=86_400)  # silent this long: a worker adopts
    # The DBOS runs queue's limits (run/queued.py): runs one worker process executes at once, and
    # runs executing at once across every worker (0: no limit). Stored with the queue, so the
    # last worker to start sets them for all.
    worker_concurrency: int = Field(default=1, ge=1, le=256)
    global_concurrency: int = Field(default=0, ge=0, le=100_000)
    # Calls to each provider, from every process of this database, go through a DBOS queue with
    # this limiter (run/provider_queues.py); a provider not named is called at once.
    rate_limits: dict[Provider, RateLimit] = Field(default_factory=dict)
    # Remote Builders (builder = "remote"): a claim's lease lasts this long unless renewed, and an
    # attempt nobody claims within the wait ends so the run can go on.
    remote_lease_seconds: int = Field(default=120, ge=1, le=86_400)
    remote_claim_wait_seconds: float = Field(default=900, gt=0, le=86_400)


# The environment overrides autopack.toml for these keys of [runtime].
RUNTIME_VARIABLES = {
    "worker_poll_seconds": "AUTOPACK_WORKER_POLL_SECONDS",
    "heartbeat_seconds": "AUTOPACK_HEARTBEAT_SECONDS",
    "stale_seconds": "AUTOPACK_STALE_SECONDS",
    "worker_concurrency": "AUTOPACK_WORKER_CONCURRENCY",
    "global_concurrency": "AUTOPACK_GLOBAL_CONCURRENCY",
    "rate_limits": "AUTOPACK_RATE_LIMITS",
    "remote_lease_seconds": "AUTOPACK_REMOTE_LEASE_SECONDS",
    "remote_claim_wait_seconds": "AUTOPACK_REMOTE_CLAIM_WAIT_SECONDS",
}
# Decided by the process that reads the settings, not by the run: a worker resuming a run on
# another machine has its own database URL (which may hold a password) and its own clocks.
PROCESS_FIELDS = frozenset({"database_url", "runtime"})


def _shipped_fields(shipped: ModelAlias, given: dict[str, object]) -> dict[str, object]:
    """A shipped alias's fields under an override; its write price follows from its own input price
    and cache TTL, so a new input price or TTL without a new write price gets the provider's rule."""
    fields = shipped.model_dump()
    repriced = "cache_ttl" in given or "price_input_per_mtok" in given
    if repriced and "price_cache_write_per_mtok" not in given:
        fields["price_cache_write_per_mtok"] = None
    return fields


class ModelsSection(_Section):
    aliases: dict[str, ModelAlias] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _override_shipped_aliases_field_by_field(cls, data: object) -> object:
        """`[models.aliases.anthropic-fast] base_url = ...` keeps the shipped model and prices."""
        if not isinstance(data, dict) or not isinstance(data.get("aliases"), dict):
            return data
        shipped = default_aliases()
        merged = {
            name: {**_shipped_fields(shipped[name], given), **given}
            if name in shipped and isinstance(given, dict)
            else given
            for name, given in data["aliases"].items()
        }
        return {**data, "aliases": merged}


class Settings(_Section):
    repo_root: Path
    project: ProjectSection
    run_scope: RunScope = RunScope.MULTI_TIER
    ruleset: Ruleset = Ruleset()
    ci: dict[CIProfile, CIProfileCommands] = Field(default_factory=dict)
    # Keys set in [policy] keep the defaults of the others, the protected paths above all.
    policy: WritePolicy = WritePolicy()
    workspace: WorkspaceSection = WorkspaceSection()
    sandbox: SandboxSection = SandboxSection()
    environment: EnvironmentSection = EnvironmentSection()
    server: ServerSection = ServerSection()
    routing: Routing = Routing()
    models: ModelsSection = ModelsSection()
    # AUTOPACK_DATABASE_URL, else the project's SQLite file; never stored, dumped nor shown.
    database_url: str = Field(default="", exclude=True, repr=False)
    runtime: RuntimeSection = Field(default=RuntimeSection(), exclude=True)

    @model_validator(mode="after")
    def _heartbeats_come_faster_than_a_run_goes_stale(self) -> Settings:
        if self.runtime.stale_seconds <= self.runtime.heartbeat_seconds:
            raise ValueError(
                f"runtime.stale_seconds ({self.runtime.stale_seconds:g}) must exceed "
                f"runtime.heartbeat_seconds ({self.runtime.heartbeat_seconds:g}), or live runs "
                "would be adopted"
            )
        return self

    @model_validator(mode="after")
    def _routing_names_known_aliases(self) -> Settings:
        unknown = self.routing.unknown_aliases(self.aliases)
        if unknown:
            raise ValueError(
                f"routing names unknown model aliases: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(self.aliases))})"
            )
        return self

    @property
    def aliases(self) -> dict[str, ModelAlias]:
        """Shipped aliases, overridden or extended by the project's own."""
        return {**default_aliases(), **self.models.aliases}

    @property
    def runs_dir(self) -> Path:
        return self.repo_root / RUNS_DIR

    @property
    def worktree_root(self) -> Path:
        return self.repo_root / self.workspace.worktree_root


def find_repo_root(start: Path) -> Path:
    """The enclosing git work tree of `start`; Autopack only ever works inside one."""
    if not start.exists():
        raise RepoError(f"repository path {start} does not exist")
    if not start.is_dir():
        raise RepoError(f"repository path {start} is not a directory")
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    raise RepoError(f"{start} is not inside a git repository (run `git init` or pass --repo)")


def default_project_id(repo_root: Path) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", repo_root.name.lower()).strip("-.")
    return slug[:64] or "project"


def load_settings(repo_root: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read `<repo>/autopack.toml` if present and the environment (`env`, else this process's);
    every problem becomes one ConfigError sentence."""
    repo_root = repo_root.resolve()
    env = os.environ if env is None else env
    path = repo_root / CONFIG_FILE
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot be read: {error}") from None
    raw.setdefault("project", {}).setdefault("id", default_project_id(repo_root))
    if "database_url" in raw:
        raise ConfigError(
            f"{path}: database_url: not a key of autopack.toml; set AUTOPACK_DATABASE_URL "
            "(a URL may hold a password)"
        )
    runtime = raw.get("runtime")
    if isinstance(runtime, dict):
        raw["runtime"] = {**runtime, **_runtime_from_environment(env)}
    else:
        raw.setdefault("runtime", _runtime_from_environment(env))
    try:
        return Settings.model_validate(
            {**raw, "repo_root": repo_root, "database_url": database_url_for(repo_root, env)}
        )
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe_validation_error(error)}") from None


def settings_to_resume(repo_root: Path, env: Mapping[str, str] | None = None) -> Settings:
    """What this process brings to a run it starts or resumes: the repository, its database and
    its timing, from the environment and autopack.toml. A run keeps the settings it was created
    with, so a file edited since, even into something invalid, must not stop it: then only the
    environment is read."""
    try:
        return load_settings(repo_root, env)
    except ConfigError:
        env = os.environ if env is None else env
        repo_root = repo_root.resolve()
        return Settings.model_validate(
            {
                "repo_root": repo_root,
                "project": {"id": default_project_id(repo_root)},
                "runtime": _runtime_from_environment(env),
                "database_url": database_url_for(repo_root, env),
            }
        )


def _runtime_from_environment(env: Mapping[str, str]) -> dict[str, object]:
    """The [runtime] keys the environment sets, each checked alone so a mistake names its variable."""
    runtime: dict[str, object] = {}
    for key, variable in RUNTIME_VARIABLES.items():
        value = env.get(variable)
        if not value:
            continue
        parsed: object = _rate_limits(variable, value) if key == "rate_limits" else value
        try:
            RuntimeSection.model_validate({key: parsed})
        except ValidationError as error:
            raise ConfigError(f"{variable}={value!r}: {describe_validation_error(error)}") from None
        runtime[key] = parsed
    return runtime


def _rate_limits(variable: str, value: str) -> dict[str, dict[str, str]]:
    """`anthropic=50/60,openai=500`: requests per seconds (60 if not given) for each provider."""
    limits: dict[str, dict[str, str]] = {}
    for item in value.split(","):
        provider, equals, limit = item.strip().partition("=")
        requests, slash, seconds = limit.strip().partition("/")
        if not equals or not provider.strip() or not requests.strip() or (slash and not seconds):
            raise ConfigError(
                f"{variable}={value!r}: {item.strip()!r} is not PROVIDER=REQUESTS[/SECONDS] "
                "(e.g. anthropic=50/60,openai=500)"
            )
        limits[provider.strip()] = {
            "requests": requests.strip(),
            "seconds": seconds.strip() or "60",
        }
    return limits


def thaw_settings(frozen_json: str, current: Settings) -> Settings:
    """Settings a run stored when it was created, for the process resuming it: the repository's
    path (a worker may see it elsewhere), the database URL and the clocks are this process's own."""
    frozen = json.loads(frozen_json)
    ours = {name: getattr(current, name) for name in PROCESS_FIELDS}
    return Settings.model_validate({**frozen, **ours, "repo_root": current.repo_root})


def describe_validation_error(error: ValidationError) -> str:
    """Pydantic's errors as `dotted.path: message` pairs, the first three, for one-line reports."""
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
