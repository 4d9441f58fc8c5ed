"""API keys come only from the environment, or from a file the user names; nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from autopack.errors import ConfigError
from autopack.llm.redact import Redactor

if TYPE_CHECKING:
    from autopack.llm.aliases import ModelAlias

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


def redactor_for(
    aliases: Mapping[str, ModelAlias], env: Mapping[str, str], *, skip_unreadable: bool = False
) -> Redactor:
    """Masks every key any alias could use, plus anything key-shaped.

    `skip_unreadable`: a key file that cannot be read is left out rather than refused, for work
    that needs no key (reading a plan): the command that needs the key reports the file.
    """
    known: dict[str, str] = {}
    for alias in aliases.values():
        try:
            key = api_key(alias, env)
        except ConfigError:
            if not skip_unreadable:
                raise
            continue
        if key and alias.api_key_env is not None:
            known.setdefault(key, f"value of {alias.api_key_env}")
    return Redactor(known)
