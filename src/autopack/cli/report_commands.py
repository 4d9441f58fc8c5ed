"""`autopack report models`: what each model alias achieved as Builder, from the project's store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from autopack.cli.context import database_for, settings_for
from autopack.cli.errors import reports_errors

if TYPE_CHECKING:
    from autopack.store.model_figures import ModelFigures

RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo", help="The git repository (default: the one around the current directory)."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")
]

report_app = typer.Typer(
    help="Reports read from the project's store; nothing is run and no model is called.",
    no_args_is_help=True,
)


@report_app.command("models")
@reports_errors
def report_models(repo: RepoOption = None, as_json: JsonOption = False) -> None:
    """Each model alias's record as Builder, per task category and complexity.

    Success rate, USD and tokens per successful phase, with the counts behind them, from the
    project's ended phases (COMPLETE or FAILED) and the cost ledger: what [routing] policy
    learned chooses from. Definitions: docs/llm.md, "Learned routing".
    """
    from autopack.cli.render import model_figures_table
    from autopack.store.engine import database_exists
    from autopack.store.model_figures import ModelHistory, model_history

    settings = settings_for(repo)
    history = ModelHistory(figures=())
    # A read-only report must not create a database just to find it empty.
    if database_exists(settings.database_url):
        with database_for(settings) as database:
            history = model_history(database, settings.aliases, settings.project.id)
    if as_json:
        print(
            json.dumps(
                {
                    "project_id": settings.project.id,
                    "policy": settings.routing.policy.value,
                    "min_observations": settings.routing.min_observations,
                    "confidence": settings.routing.confidence,
                    "unmapped_calls": history.unmapped_calls,
                    "models": [_figures_json(f) for f in history.figures],
                },
                indent=2,
            )
        )
        return
    if not history.figures:
        print(
            f"No model history in {settings.project.id} yet: no ended phase has a Builder call "
            "by a configured alias."
        )
        return
    from autopack.cli.main import wide_console

    wide_console().print(model_figures_table(history.figures, settings.project.id))
    if history.unmapped_calls:
        print(
            f"{history.unmapped_calls} Builder calls left out: no configured alias resolves to "
            "their provider and model"
        )


def _figures_json(figures: ModelFigures) -> dict[str, Any]:
    usd_per_success = figures.usd_per_success
    return {
        "alias": figures.alias,
        "task_category": figures.task_category,
        "complexity": figures.complexity,
        "phases": figures.phases,
        "attempts": figures.attempts,
        "successful_phases": figures.successes,
        "success_rate": round(figures.success_rate, 4),
        "usd": str(figures.usd),
        "tokens": figures.tokens,
        "usd_per_successful_phase": None if usd_per_success is None else str(usd_per_success),
        "tokens_per_successful_phase": figures.tokens_per_success,
    }


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
