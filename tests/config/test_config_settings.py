"""autopack.toml is validated once; every mistake is one sentence naming the file and the key."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from autopack.config import find_repo_root, load_settings
from autopack.domain.vocabulary import CIProfile, Complexity
from autopack.errors import ConfigError, RepoError
from autopack.project_init import detect_ci_commands, render_config, write_config
from autopack.strategy.routing import Routing
from autopack.strategy.ruleset import Ruleset

CONFIGURATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "My Repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_missing_config_gives_defaults_and_a_project_id_from_the_directory(repo: Path) -> None:
    settings = load_settings(repo)
    assert settings.project.id == "my-repo"
    assert settings.ruleset == Ruleset()
    assert settings.routing == Routing()
    assert "autopack.toml" in settings.policy.protected


def test_overrides_are_read(repo: Path) -> None:
    (repo / "autopack.toml").write_text(
        '[project]\nid = "todo"\n[ruleset.run]\ntoken_cap = 42\n'
        '[ruleset.complexity.low]\ntoken_cap = 7\n[ci.normal.commands]\ntests = "pytest"\n'
    )
    settings = load_settings(repo)
    assert settings.project.id == "todo"
    assert settings.ruleset.run.token_cap == 42
    assert settings.ruleset.complexity[Complexity.LOW].token_cap == 7
    assert settings.ruleset.complexity[Complexity.HIGH].token_cap == 1_000_000
    assert settings.ci[CIProfile.NORMAL].commands == {"tests": "pytest"}


def test_invalid_toml_names_the_file_and_line(repo: Path) -> None:
    (repo / "autopack.toml").write_text("[project]\nid = \n")
    with pytest.raises(ConfigError, match=r"autopack\.toml: not valid TOML.*line 2"):
        load_settings(repo)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[ruleset.run]\ntoken_cap = -1\n", "ruleset.run.token_cap"),
        ("[ruleset]\nsafety_profile = 'reckless'\n", "ruleset.safety_profile"),
        ("[ruleset]\nunknown_knob = 1\n", "ruleset.unknown_knob"),
        ("[ruleset.high_risk.docs]\nmax_builder_attempts = 1\n", "not high-risk categories: docs"),
        (
            "[ruleset.high_risk.security_auth_change]\nmax_builder_attempts = 5\n",
            "max_builder_attempts",
        ),
        ("[routing]\ntop = 'nope'\n", "unknown model aliases: nope"),
        ("[models.aliases.mine]\nprovider = 'openai_compatible'\nmodel = 'm'\n", "base_url"),
    ],
)
def test_invalid_values_name_the_key(repo: Path, text: str, where: str) -> None:
    (repo / "autopack.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(repo)
    assert where in str(caught.value)
    assert str(repo / "autopack.toml") in str(caught.value)


def test_repo_root_is_found_from_a_subdirectory(repo: Path) -> None:
    sub = repo / "a" / "b"
    sub.mkdir(parents=True)
    assert find_repo_root(sub) == repo.resolve()


def test_missing_repo_and_non_git_directory_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="does not exist"):
        find_repo_root(tmp_path / "nowhere")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(RepoError, match="not inside a git repository"):
        find_repo_root(plain)


def _uncomment_defaults(text: str) -> str:
    """Uncomment every `# key = value` line except in the example model alias block."""
    out = []
    for line in text.splitlines():
        if line.startswith("# [models.aliases"):
            break
        match = re.match(r"^# ([a-z_]+ = .*?)(\s{2,}#.*)?$", line)
        out.append(match.group(1) if match else line)
    return "\n".join(out) + "\n"


def test_generated_config_documents_exactly_the_shipped_defaults(repo: Path) -> None:
    text = render_config("demo", detect_ci_commands(repo))
    (repo / "autopack.toml").write_text(_uncomment_defaults(text))
    settings = load_settings(repo)
    assert settings.ruleset == Ruleset()
    assert settings.routing == Routing()
    defaults = load_settings(repo.parent)
    for section in ("policy", "workspace", "sandbox", "environment", "server", "runtime"):
        assert getattr(settings, section) == getattr(defaults, section), section
    assert settings.project.name == defaults.project.name
    assert "max_bytes = 2000000" in text


def _documented_keys() -> list[tuple[str, str]]:
    """(section, key) for every key docs/configuration.md tabulates under a `[section]` heading."""
    found: list[tuple[str, str]] = []
    section = None
    for line in CONFIGURATION_DOC.read_text().splitlines():
        heading = re.match(r"^#+ `\[([a-z_.]+)\]`", line)
        if line.startswith("#"):
            section = heading.group(1) if heading else None
        elif section and (row := re.match(r"^\| `([a-z_]+)` \|", line)):
            found.append((section, row.group(1)))
    return found


def test_init_shows_every_key_the_configuration_reference_lists(repo: Path) -> None:
    text = render_config("demo", detect_ci_commands(repo))
    tables = re.split(r"^(\[[a-z_.]+\])", text, flags=re.M)
    keys_by_table = {tables[i]: tables[i + 1] for i in range(1, len(tables) - 1, 2)}
    documented = _documented_keys()
    assert ("runtime", "stale_seconds") in documented  # the reader finds the tables
    for section, key in documented:
        body = keys_by_table.get(f"[{section}]", "")
        assert re.search(rf"^(# )?{key} = ", body, re.M), f"[{section}] {key}"


def test_init_detects_python_tooling(repo: Path) -> None:
    (repo / "pyproject.toml").write_text("[tool.pytest.ini_options]\n[tool.ruff]\n[tool.mypy]\n")
    commands = detect_ci_commands(repo)
    assert commands[CIProfile.NORMAL] == {"tests": "python -m pytest -q", "lint": "ruff check ."}
    assert commands[CIProfile.STRICT]["typecheck"] == "mypy"


def test_init_detects_node_and_go(repo: Path) -> None:
    (repo / "package.json").write_text('{"scripts": {"test": "vitest", "lint": "eslint ."}}')
    (repo / "go.mod").write_text("module x\n")
    commands = detect_ci_commands(repo)
    assert commands[CIProfile.NORMAL]["tests"] == "npm test"
    assert commands[CIProfile.STRICT]["vet"] == "go vet ./..."


def test_init_refuses_to_overwrite_without_force(repo: Path) -> None:
    (repo / "autopack.toml").write_text("# mine\n")
    with pytest.raises(ConfigError, match="already exists"):
        write_config(repo, "demo")
    assert (repo / "autopack.toml").read_text() == "# mine\n"
    write_config(repo, "demo", force=True)
    assert load_settings(repo).project.id == "demo"
