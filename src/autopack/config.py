"""Settings from `autopack.toml` and the environment, validated once at the edge and passed down."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autopack.apply.policy import DEFAULT_PROTECTED_PATHS as DEFAULT_PROTECTED_PATHS
from autopack.apply.policy import WritePolicy
from autopack.domain.vocabulary import CIProfile, RunScope
from autopack.errors import ConfigError, RepoError
from autopack.llm.aliases import ModelAlias, default_aliases
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


class ServerSection(_Section):
    """`autopack serve`: limits every request meets before anything else reads it."""

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1_024)
    body_timeout_seconds: float = Field(default=30, gt=0, le=3_600)
    header_timeout_seconds: float = Field(default=10, gt=0, le=3_600)


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
            name: {**shipped[name].model_dump(), **given}
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
    server: ServerSection = ServerSection()
    routing: Routing = Routing()
    models: ModelsSection = ModelsSection()

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


def load_settings(repo_root: Path) -> Settings:
    """Read `<repo>/autopack.toml` if present; every problem becomes one ConfigError sentence."""
    repo_root = repo_root.resolve()
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
    try:
        return Settings.model_validate({**raw, "repo_root": repo_root})
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe_validation_error(error)}") from None


def thaw_settings(frozen_json: str, repo_root: Path) -> Settings:
    """Settings a run stored when it was created, for the repository where it is resumed (a
    worker may see the same repository at another path)."""
    frozen = json.loads(frozen_json)
    return Settings.model_validate({**frozen, "repo_root": repo_root.resolve()})


def describe_validation_error(error: ValidationError) -> str:
    """Pydantic's errors as `dotted.path: message` pairs, the first three, for one-line reports."""
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
