"""Secrets pasted into a plan are masked as the plan is read, before anything else sees its text.

A plan's text becomes the database's strategy, strategy.json, summaries, commit subjects, API
views, progress events, prompts and the dashboard; masking once, here, keeps a key out of all of
them. The mask names the kind of secret (`[secret masked: openai key]`) so the plan still reads,
and the kinds and lines are logged, never the values. The shapes are those of llm/redact.py, and
the values of the keys Autopack's aliases name in the environment are masked wherever they occur.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autopack.llm.aliases import ModelAlias, default_aliases
from autopack.llm.keys import redactor_for
from autopack.llm.redact import Redactor

log = logging.getLogger(__name__)


def secret_mask(kind: str) -> str:
    return f"[secret masked: {kind}]"


@dataclass(frozen=True)
class MaskedSecret:
    """Where a secret was in a plan ("line 12", "tiers[0].phases[1].description") and its kind."""

    where: str
    kind: str


def plan_redactor(aliases: Mapping[str, ModelAlias] | None = None) -> Redactor:
    """Key shapes, and the keys the aliases (the shipped ones by default) name in the environment.

    A key file that cannot be read is skipped: reading a plan needs no key, and the run that does
    reports the file.
    """
    return redactor_for(
        default_aliases() if aliases is None else aliases, os.environ, skip_unreadable=True
    )


def mask_plan_text(
    text: str, redactor: Redactor, source: str = "plan"
) -> tuple[str, tuple[MaskedSecret, ...]]:
    """`text` with every secret masked, and where each was (by line)."""
    found = redactor.find(text, prose=True)
    if not found:
        return text, ()
    masked = tuple(
        MaskedSecret(f"line {text.count(chr(10), 0, item.start) + 1}", item.kind) for item in found
    )
    _report(source, masked)
    return redactor.text(text, mask=secret_mask, prose=True), masked


def mask_plan_data(
    data: Any, redactor: Redactor, source: str = "plan"
) -> tuple[Any, tuple[MaskedSecret, ...]]:
    """Every string inside a structured plan (YAML or JSON, as loaded) masked, keys included.

    Done on the loaded data rather than the text, since a mask written into YAML could change how
    the YAML reads (`[` opens a list, `: ` a mapping).
    """
    masked: list[MaskedSecret] = []

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, str):
            kinds = [item.kind for item in redactor.find(value, prose=True)]
            masked.extend(MaskedSecret(where or "(top level)", kind) for kind in kinds)
            return redactor.text(value, mask=secret_mask, prose=True) if kinds else value
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                shown = walk(key, where)  # a key's path names it masked, as it is kept
                out[shown] = walk(item, f"{where}.{shown}" if where else str(shown))
            return out
        if isinstance(value, list):
            return [walk(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return value

    result = walk(data, "")
    _report(source, tuple(masked))
    return result, tuple(masked)


def _report(source: str, masked: tuple[MaskedSecret, ...]) -> None:
    for secret in masked:
        log.warning(
            "%s, %s: a secret (%s) was masked; keep keys in the environment, not in plans",
            source,
            secret.where,
            secret.kind,
        )
