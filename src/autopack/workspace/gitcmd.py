"""How Autopack runs git: the user's configuration is read, except where it would change meaning.

Diff prefixes, path quoting, colour, context size, external diff drivers and textconv filters all
change the text git prints; a user's `diff.noprefix` or `color.ui = always` must not decide what a
patch means to us. Inherited `GIT_*` variables (set when Autopack runs inside a hook) would point
git at another repository or index.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

SAFE_CONFIG: tuple[str, ...] = (
    "core.quotePath=true",
    "core.fsmonitor=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
    "diff.external=",
    "diff.context=3",
    "diff.suppressBlankEmpty=false",
    "color.ui=false",
    "color.diff=false",
    "apply.whitespace=nowarn",
    "user.name=Autopack",
    "user.email=autopack@localhost",
    "commit.gpgsign=false",
    "tag.gpgSign=false",
)
# Flags every diff-producing command gets, so the output is the same under any configuration.
DIFF_FLAGS: tuple[str, ...] = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--full-index",
    "--binary",
    "--no-renames",
)
# Variables that select configuration files stay: that configuration is the user's to choose.
_KEPT_GIT_VARIABLES = frozenset({"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"})


def git_argv(*args: str, config: Sequence[str] = ()) -> list[str]:
    settings = [item for pair in (*SAFE_CONFIG, *config) for item in ("-c", pair)]
    return ["git", *settings, *args]


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in _KEPT_GIT_VARIABLES
    }
    env["GIT_TERMINAL_PROMPT"] = "0"
    return {**env, **(extra or {})}


def run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    input_bytes: bytes | None = None,
    config: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """git with the safe configuration; bytes in and out, since paths may be any bytes."""
    return subprocess.run(
        git_argv(*args, config=config),
        cwd=cwd,
        input=input_bytes,
        capture_output=True,
        env=git_env(env),
        check=False,
    )


def failure(args: Sequence[str], completed: subprocess.CompletedProcess[bytes]) -> str:
    detail = (completed.stderr or completed.stdout).decode("utf-8", "replace").strip().splitlines()
    return f"git {args[0]} failed: {detail[-1] if detail else completed.returncode}"
