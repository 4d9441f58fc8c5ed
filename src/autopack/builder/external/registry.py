"""The external CLIs a phase can name as its builder."""

from __future__ import annotations

from collections.abc import Callable

from autopack.builder.external.aider import Aider
from autopack.builder.external.base import CliAdapter
from autopack.builder.external.claude_code import ClaudeCode
from autopack.builder.external.codex import Codex
from autopack.domain.vocabulary import BuilderName

ADAPTERS: dict[BuilderName, Callable[[], CliAdapter]] = {
    BuilderName.AIDER: Aider,
    BuilderName.CLAUDE_CODE: ClaudeCode,
    BuilderName.CODEX: Codex,
}
