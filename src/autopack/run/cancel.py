"""Cancel a run cleanly: it ends in a terminal state with the reason, from wherever it is.

A run no executor has started is ended here and now. A run being executed ends at its next step
boundary: the executor checks for a cancel request before every Builder attempt.
"""

from __future__ import annotations

from autopack.config import Settings
from autopack.domain.states import FailureReason, RunState
from autopack.processes import executor_id
from autopack.run import lifecycle
from autopack.run.services import RunOptions, run_services
from autopack.store.engine import Database
from autopack.store.queue import CANCELLER, claim_unstarted, request_cancel, saved_options
from autopack.store.runs import get_run


def cancel_run(settings: Settings, database: Database, run_id: str, reason: str) -> RunState:
    """The run's state after the request: terminal at once if nothing was executing it."""
    if not request_cancel(database, run_id, reason):
        return get_run(database, run_id).state
    if claim_unstarted(database, run_id, f"{executor_id()}{CANCELLER}"):
        options = RunOptions.model_validate_json(saved_options(database, run_id) or "{}")
        with run_services(run_id, settings, options) as services:
            lifecycle.finish_run(
                services,
                FailureReason(code=lifecycle.CANCELLED, message=f"cancelled: {reason}"),
            )
    return get_run(database, run_id).state
