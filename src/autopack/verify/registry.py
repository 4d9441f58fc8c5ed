"""Sandboxes by name: `bubblewrap` (the default) or `none`, the explicit --no-sandbox opt-out."""

from __future__ import annotations

from autopack.config import Settings
from autopack.domain.vocabulary import CIProfile
from autopack.errors import ConfigError
from autopack.verify.base import Sandbox
from autopack.verify.bubblewrap import BubblewrapSandbox, NoSandbox


def sandbox_for(no_sandbox: bool) -> Sandbox:
    return NoSandbox() if no_sandbox else BubblewrapSandbox()


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
