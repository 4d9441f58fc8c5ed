"""API keys come only from the environment, or from a file the user names; nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from autopack.errors import ConfigError
from autopack.llm.redact import Redactor
from autopack.strategy.routing import ModelAlias

KEY_FILE_SUFFIX = "_FILE"


def api_key(alias: ModelAlias, env: Mapping[str, str]) -> str | None:
    """`$NAME`, or the contents of the file `$NAME_FILE` points to (as container secrets do)."""
    if alias.api_key_env is None:
        return None
    value = env.get(alias.api_key_env)
    if value:
        return value.strip()
    file_name = env.get(alias.api_key_env + KEY_FILE_SUFFIX)
    if not file_name:
        return None
    path = Path(file_name)
    try:
        content = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(
            f"{alias.api_key_env}{KEY_FILE_SUFFIX} names {path}, which cannot be read: {error.strerror}"
        ) from None
    return content or None


def redactor_for(aliases: Mapping[str, ModelAlias], env: Mapping[str, str]) -> Redactor:
    """Masks every key any alias could use, plus anything key-shaped."""
    known = [key for alias in aliases.values() if (key := api_key(alias, env))]
    return Redactor(known)
