"""Sandboxes by name: `bubblewrap` (the default) or `none`, the explicit --no-sandbox opt-out."""

from __future__ import annotations

from pathlib import Path

from autopack.config import Settings
from autopack.domain.vocabulary import CIProfile
from autopack.errors import ConfigError
from autopack.verify.base import Sandbox
from autopack.verify.bubblewrap import BubblewrapSandbox, NoSandbox


def sandbox_for(no_sandbox: bool, settings: Settings) -> Sandbox:
    if no_sandbox:
        return NoSandbox()
    return BubblewrapSandbox(readable=readable_paths(settings))


def readable_paths(settings: Settings) -> tuple[Path, ...]:
    """`[sandbox] readable`, with `~` expanded and relative paths taken from the repository."""
    return tuple(settings.repo_root / path.expanduser() for path in settings.sandbox.readable)


def profile_commands(settings: Settings, profile: CIProfile) -> dict[str, str]:
    """The named commands of a CI profile; `strict` falls back to `normal` when it has none.

    A profile without commands would let every phase pass CI untested, so it is an error.
    """
    for candidate in (profile, CIProfile.NORMAL):
        section = settings.ci.get(candidate)
        if section is not None and section.commands:
            return dict(section.commands)
    raise ConfigError(
        f"no CI commands for profile {profile.value}: add [ci.{profile.value}.commands] to autopack.toml "
        "(autopack init detects them)"
    )
