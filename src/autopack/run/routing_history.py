"""The record the `learned` routing policy compiles a strategy from, read when the policy asks."""

from __future__ import annotations

from autopack.config import Settings
from autopack.store.engine import Database, database_exists, open_database
from autopack.store.model_figures import ModelHistory, model_history
from autopack.strategy.routing import RoutingPolicy


def routing_history(settings: Settings, database: Database | None = None) -> ModelHistory | None:
    """The project's record under policy learned (read from `database`, else from the project's
    own, opened for the purpose); None under policy static, which reads nothing."""
    if settings.routing.policy is not RoutingPolicy.LEARNED:
        return None
    if database is not None:
        return model_history(database, settings.aliases, settings.project.id)
    # A preview must not create a database just to find it empty.
    if not database_exists(settings.database_url):
        return ModelHistory(figures=())
    opened = open_database(settings.database_url)
    try:
        return model_history(opened, settings.aliases, settings.project.id)
    finally:
        opened.close()
