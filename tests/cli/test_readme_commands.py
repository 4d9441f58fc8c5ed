"""Every `autopack` command and flag the README names exists, as `autopack --help` lists it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

from autopack.cli.main import app
from autopack.cli.reference import Topic

README = Path(__file__).resolve().parents[2] / "README.md"


def _mentions() -> list[list[str]]:
    """Each mention as words: inline `autopack ...` spans and the tour's command column."""
    text = README.read_text()
    spans = re.findall(r"`(autopack [^`]+)`", text)
    tour = re.findall(r"^(autopack .+?)(?:\s{2,}|$)", text, re.M)
    mentions = []
    for span in spans + tour:
        for part in span.split(" | "):
            words = part.split()
            mentions.append(words if words[0] == "autopack" else ["autopack", *words])
    return mentions


def _resolve(group: Any, words: list[str]) -> list[Any]:
    """The commands the words name; `a|b` names two."""
    names = words[1].split("|")
    commands = [group.commands[name] for name in names]  # KeyError: no such command
    if words[1] in ("token", "project", "report", "help") and len(words) > 2:
        if hasattr(commands[0], "commands"):  # a group: token create|list|revoke
            commands = [commands[0].commands[name] for name in words[2].split("|")]
        else:  # `help config|exit-codes`: topics of one command
            assert set(words[2].split("|")) <= {topic.value for topic in Topic}, words
    return commands


def test_every_command_and_flag_in_the_readme_exists() -> None:
    group = typer.main.get_command(app)
    mentions = _mentions()
    assert len(mentions) > 20  # the reader finds them
    for words in mentions:
        for command in _resolve(group, words):
            flags = {opt for param in command.params for opt in getattr(param, "opts", ())}
            for word in words[2:]:
                flag = re.match(r"\[?(--[a-z-]+)", word)
                if flag:
                    assert flag.group(1) in flags, (words, flag.group(1))
