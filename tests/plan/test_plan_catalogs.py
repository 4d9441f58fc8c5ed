"""The shipped stack profiles and feature catalog, project overrides, stack resolution, feature matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.errors import ConfigError
from autopack.plan.catalogs import (
    load_feature_catalog,
    load_stack_profiles,
    match_features,
    resolve_stack,
)


def test_the_shipped_catalogs_are_complete_and_consistent() -> None:
    profiles = load_stack_profiles()
    catalog = load_feature_catalog()
    assert len(profiles.profiles) >= 5
    assert len(catalog.features) >= 15
    assert len({feature.id for feature in catalog.features}) == len(catalog.features)
    named = {stack for feature in catalog.features for stack in feature.stacks}
    assert named <= {profile.id for profile in profiles.profiles}
    for feature in catalog.features:
        assert feature.source_repo.count("/") == 1
        assert feature.licence
        assert 0 <= feature.quality <= 100


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("pyproject.toml", "python-pytest"),
        ("go.mod", "go-modules"),
        ("package.json", "node-typescript"),
    ],
)
def test_the_stack_is_resolved_from_marker_files(
    tmp_path: Path, marker: str, expected: str
) -> None:
    (tmp_path / marker).write_text("")
    profile, reason = resolve_stack(tmp_path, load_stack_profiles())
    assert profile is not None
    assert profile.id == expected
    assert reason == f"{marker} found"


def test_an_unknown_stack_says_what_was_looked_for(tmp_path: Path) -> None:
    profile, reason = resolve_stack(tmp_path, load_stack_profiles())
    assert profile is None
    assert "go.mod" in reason


def test_features_match_on_whole_words_for_the_projects_stack(tmp_path: Path) -> None:
    catalog = load_feature_catalog()
    (tmp_path / "pyproject.toml").write_text("")
    python, _ = resolve_stack(tmp_path, load_stack_profiles())
    matches = match_features("Add JWT authentication and a rate limit to the API", catalog, python)
    assert [match.feature.id for match in matches] == ["jwt-auth", "rate-limiting"]
    assert "jpadilla/pyjwt:jwt/api_jwt.py (MIT, quality 90)" in matches[0].reason
    # Words inside other words do not count; features of other stacks do not either.
    assert match_features("Refactor the retrying logic of the cursor", catalog, python) == []
    go_only = match_features("Add an HTTP router", catalog, python)
    assert go_only == []


def test_a_project_catalog_replaces_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "feature_catalog.yaml").write_text(
        "features:\n"
        "  - {id: billing, name: Billing, keywords: [invoice], stacks: [python-pytest],\n"
        "     source_repo: acme/billing, path: billing.py, licence: MIT, quality: 70}\n"
    )
    catalog = load_feature_catalog(tmp_path)
    assert [feature.id for feature in catalog.features] == ["billing"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("features: [", "not valid YAML"),
        ("features:\n  - {id: x, name: X}\n", "features.0.keywords: Field required"),
        (
            "features:\n  - {id: x, name: X, keywords: [a], stacks: [s], source_repo: nope,"
            " path: p, licence: MIT, quality: 50}\n",
            "features.0.source_repo",
        ),
    ],
)
def test_a_malformed_project_catalog_is_a_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "feature_catalog.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        load_feature_catalog(tmp_path)
    assert str(path) in str(error.value)
