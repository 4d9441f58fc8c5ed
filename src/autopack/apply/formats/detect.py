"""Recognise which format an agent's patch text is in and parse it."""

from __future__ import annotations

import re

from autopack.apply.formats.codex import parse_codex
from autopack.apply.formats.search_replace import parse_search_replace
from autopack.apply.formats.unified import parse_unified
from autopack.apply.patch import Patch
from autopack.errors import PatchFormatError

_UNIFIED = re.compile(r"^(diff --git |--- \S)", re.MULTILINE)


def parse_patch_text(text: str) -> Patch:
    if not text.strip():
        raise PatchFormatError("the patch is empty")
    if "\x00" in text:
        raise PatchFormatError("the patch text contains NUL bytes")
    if text.lstrip().startswith("*** Begin Patch"):
        return parse_codex(text)
    if re.search(r"^<{5,9} SEARCH\s*$", text, re.MULTILINE):
        return parse_search_replace(text)
    if _UNIFIED.search(text):
        return parse_unified(text)
    raise PatchFormatError(
        "not a recognised patch: expected a unified diff, SEARCH/REPLACE blocks or a '*** Begin Patch' envelope"
    )
