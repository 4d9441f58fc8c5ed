"""`autopack help TOPIC`: the references a user needs inside their own repository, shipped with
the installed version (a relative path such as docs/configuration.md would name the user's docs)."""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from typing import Annotated

import typer

from autopack.cli.exit_codes import table_text


class Topic(StrEnum):
    CONFIG = "config"
    EXIT_CODES = "exit-codes"


def configuration_reference() -> str:
    """docs/configuration.md of this version, shipped in the package (reference/ links to it)."""
    return (resources.files("autopack") / "reference" / "configuration.md").read_text("utf-8")


def register(app: typer.Typer) -> None:
    @app.command("help")
    def help_topic(
        topic: Annotated[
            Topic,
            typer.Argument(
                metavar="TOPIC",
                help="config: every autopack.toml key; exit-codes: what each means.",
            ),
        ],
    ) -> None:
        """Print a reference: `config` (autopack.toml, its keys and defaults) or `exit-codes`."""
        if topic is Topic.CONFIG:
            print(configuration_reference(), end="")
        else:
            print(table_text())
