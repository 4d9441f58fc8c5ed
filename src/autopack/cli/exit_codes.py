"""The exit codes of `autopack`, in one table: `autopack --help`, `autopack help exit-codes` and
docs/operations.md show it, and a test holds each error class and command to its row."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

# Typer vendors click (typer._click, since 0.29): its parser raises these, not click's own.
from typer import Abort
from typer._click.exceptions import ClickException, UsageError

OK = 0
UNEXPECTED = 1  # an Autopack error of no class below (an AutopackError of its own, not a crash)
CONFIG = 2  # ConfigError: autopack.toml, keys, aliases, a preflight check refused
PLAN = 3  # PlanError: the plan cannot be read or is inconsistent
REPOSITORY = 4  # RepoError, GitError: no repository, or git refused
STORE = 5  # StoreError, NotFound: the database, or a run or phase that does not exist
ENVIRONMENT = 6  # the sandbox is missing, the project's environment cannot be built or used
REFUSED = 7  # promote or approve refused: the run or phase is not eligible
CHECK_FAILED = 8  # the check asked for ran and failed: verify's gate, models --check
BUSY = 9  # another live process drives the run (run/lease.py)
RUN_FAILED = 10  # the run ended in a DONE_FAILED_* state
USAGE = 64  # bad flags or arguments (sysexits' EX_USAGE; click's own 2 is taken by CONFIG)
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)

# (code, a word for `--help`, what it means)
TABLE: tuple[tuple[int, str, str], ...] = (
    (OK, "ok", "done; for run, resume, watch and demo: the run ended DONE_SUCCESS"),
    (UNEXPECTED, "error", "an Autopack error of no class below"),
    (CONFIG, "config", "autopack.toml, keys, model aliases, or a preflight check refused"),
    (PLAN, "plan", "the plan cannot be read or is inconsistent (file and line named)"),
    (REPOSITORY, "repository", "no git repository there, or git refused"),
    (STORE, "store", "the database cannot be used, or no such run or phase"),
    (ENVIRONMENT, "environment", "the sandbox is missing, or the project's environment failed"),
    (REFUSED, "refused", "promote or approve refused: the run or phase is not eligible"),
    (CHECK_FAILED, "check failed", "the check ran and failed: verify's gate, models --check"),
    (BUSY, "busy", "another live process drives the run: watch it, or stop it and resume"),
    (RUN_FAILED, "run failed", "the run ended in a DONE_FAILED_* state"),
    (USAGE, "usage", "an unknown command or flag, a missing or bad argument"),
    (INTERRUPTED, "interrupted", "stopped by Ctrl-C"),
)


def table_text() -> str:
    return "\n".join(f"{code:>4}  {meaning}" for code, _, meaning in TABLE)


def epilog() -> str:
    codes = ", ".join(f"{code} {word}" for code, word, _ in TABLE)
    return f"Exit codes: {codes} (autopack help exit-codes)."


def run_cli(app: Callable[..., Any]) -> None:
    """Run the typer app, a usage error exiting with USAGE.

    Click exits 2 for a usage error, and 2 is a configuration error here: the app runs without
    click's standalone handling and this function exits instead. Typer already turns Ctrl-C into
    INTERRUPTED.
    """
    try:
        code = app(standalone_mode=False)
    except UsageError as error:
        error.show()
        sys.exit(USAGE)
    except ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except Abort:  # end of input where some was needed
        print("Aborted!", file=sys.stderr)
        sys.exit(UNEXPECTED)
    sys.exit(code if isinstance(code, int) else OK)
