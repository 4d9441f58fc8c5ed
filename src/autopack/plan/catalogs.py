"""Phase 0's two catalogs: stack profiles (what the project is built with) and reusable features.

Both ship with defaults in the package; a project's own `config/stack_profiles.yaml` or
`config/feature_catalog.yaml` replaces the default of the same name. A malformed file is a
configuration error naming the file and the field, never a silent fallback.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autopack.errors import ConfigError

PROJECT_CONFIG_DIR = "config"


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StackProfile(_Entry):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    languages: tuple[str, ...]
    markers: tuple[str, ...] = Field(min_length=1)
    test_command: str
    lint_command: str | None = None
    # The environment its commands run in (verify/environment): "python" builds the project's
    # own (uv) and imports the worktree's code first; "inherit" is the caller's PATH as it is,
    # which is all Go, Rust and Java need. Node's from its lockfile's package manager is to come.
    environment: Literal["python", "inherit"] = "inherit"


class Feature(_Entry):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    keywords: tuple[str, ...] = Field(min_length=1)
    stacks: tuple[str, ...] = Field(min_length=1)
    source_repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    path: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    quality: int = Field(ge=0, le=100)


class StackProfiles(_Entry):
    profiles: tuple[StackProfile, ...] = Field(min_length=1)


class FeatureCatalog(_Entry):
    features: tuple[Feature, ...] = Field(min_length=1)


CatalogT = TypeVar("CatalogT", StackProfiles, FeatureCatalog)


def _load(name: str, model: type[CatalogT], repo_root: Path | None) -> CatalogT:
    override = repo_root / PROJECT_CONFIG_DIR / name if repo_root is not None else None
    if override is not None and override.is_file():
        source, text = str(override), override.read_text(encoding="utf-8")
    else:
        source = f"(built-in) {name}"
        text = resources.files("autopack.plan").joinpath("data", name).read_text(encoding="utf-8")
    try:
        return model.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{source}: {where}: {first['msg']}") from None


def load_stack_profiles(repo_root: Path | None = None) -> StackProfiles:
    return _load("stack_profiles.yaml", StackProfiles, repo_root)


def load_feature_catalog(repo_root: Path | None = None) -> FeatureCatalog:
    return _load("feature_catalog.yaml", FeatureCatalog, repo_root)


def resolve_stack(repo_root: Path, profiles: StackProfiles) -> tuple[StackProfile | None, str]:
    """The first profile whose marker file exists at the top of the repository, and why."""
    for profile in profiles.profiles:
        for marker in profile.markers:
            if (repo_root / marker).is_file():
                return profile, f"{marker} found"
    markers = sorted({m for p in profiles.profiles for m in p.markers})
    return None, f"none of {', '.join(markers)} at the top of the repository"


class FeatureMatch(_Entry):
    feature: Feature
    keyword: str
    reason: str


def _mentions(text: str, keyword: str) -> bool:
    words = r"\s+".join(re.escape(word) for word in keyword.lower().split())
    return re.search(rf"(?<![a-z0-9]){words}(?![a-z0-9])", text.lower()) is not None


def match_features(
    text: str, catalog: FeatureCatalog, stack: StackProfile | None
) -> list[FeatureMatch]:
    """Catalog features the text asks for, for this stack, best quality first."""
    matches = []
    for feature in catalog.features:
        if stack is not None and stack.id not in feature.stacks:
            continue
        keyword = next((k for k in feature.keywords if _mentions(text, k)), None)
        if keyword is None:
            continue
        reason = (
            f"the phase mentions '{keyword}'; {feature.source_repo}:{feature.path} "
            f"({feature.licence}, quality {feature.quality}) provides {feature.name}"
        )
        matches.append(FeatureMatch(feature=feature, keyword=keyword, reason=reason))
    return sorted(matches, key=lambda match: (-match.feature.quality, match.feature.id))
