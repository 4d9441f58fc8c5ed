"""[routing] policy, min_observations and confidence: defaults, and one sentence per mistake."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from autopack.config import load_settings
from autopack.errors import ConfigError
from autopack.strategy.routing import Routing, RoutingPolicy


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def _load(repo: Path, routing: str) -> Routing:
    (repo / "autopack.toml").write_text(f"[routing]\n{routing}\n", encoding="utf-8")
    return load_settings(repo, env={}).routing


def test_learned_by_default(repo: Path) -> None:
    routing = load_settings(repo, env={}).routing
    assert routing.policy is RoutingPolicy.LEARNED
    assert (routing.min_observations, routing.confidence) == (8, 0.95)


def test_learned_with_its_own_thresholds(repo: Path) -> None:
    routing = _load(repo, 'policy = "learned"\nmin_observations = 20\nconfidence = 0.9')
    assert routing.policy is RoutingPolicy.LEARNED
    assert (routing.min_observations, routing.confidence) == (20, 0.9)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('policy = "clever"', "routing.policy"),
        ("min_observations = 0", "routing.min_observations"),
        ("confidence = 1.5", "routing.confidence"),
        ("confidence = 0.5", "routing.confidence"),
    ],
)
def test_a_bad_value_is_one_error_naming_its_key(repo: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(repo, line)
    message = str(raised.value)
    assert "\n" not in message
    assert f"{key}: " in message
