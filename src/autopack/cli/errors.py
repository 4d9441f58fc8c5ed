"""Turn Autopack's own errors into one sentence on stderr and an exit code, never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from autopack.errors import AutopackError

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except AutopackError as error:
            print(f"autopack: error: {error}", file=sys.stderr)
            raise typer.Exit(error.exit_code) from None

    return wrapper
