"""A provider's rate limit kept by the run (`[runtime.rate_limits]`, run/provider_queues.py).

Two phases are built at once against a fake provider that refuses, with 429, more than two
requests in any two seconds. Unlimited, the run meets that limit as 429s and retries; with the
limit set at two per six seconds (DBOS's window is whole seconds on this Python, and a permit's
holder sends a little after it is granted, hence the margin), no request is refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autopack.config import load_settings
from autopack.demo.developer import demo_reply
from autopack.demo.project import PLAN, create_project
from autopack.demo.record import aliases_on
from autopack.domain.states import RunState
from autopack.run.execute import create_run, execute_run
from autopack.run.services import RunOptions
from autopack.store.engine import open_database
from autopack.store.ledger import ledger_totals
from autopack.store.progress import progress_after
from autopack.testing.fake_llm import RateWindow, fake_llm_server

# The demo plan's second tier: two phases touching different files, built at once.
TIER_2 = "# Calculator\n\n" + PLAN[PLAN.index("## Tier 2") :]

PROVIDER_LIMIT = RateWindow(requests=2, seconds=2.0)
KEPT_LIMIT = "\n[runtime.rate_limits.openai]\nrequests = 2\nseconds = 6\n"


pytestmark = pytest.mark.usefixtures("own_database")


def _run(root: Path, extra: str) -> tuple[RunState, list[float], int, list[str], int]:
    """The run's end, when the provider accepted each request, the 429s it served, the model
    events the run reported, and the calls in its ledger."""
    with fake_llm_server(demo_reply, rate_limit=PROVIDER_LIMIT) as server:
        config = aliases_on(server.openai_base_url) + "\n[ruleset.run]\nmax_parallel_phases = 2\n"
        create_project(root, extra_config=config + extra)
        plan = root / "plan.md"
        plan.write_text(TIER_2, encoding="utf-8")
        settings = load_settings(root)
        options = RunOptions(no_sandbox=shutil.which("bwrap") is None)
        run_id = create_run(settings, plan, options)
        end = execute_run(settings, run_id, options)
        accepted = list(server.accepted_at)
        refused = server.faults_served["429"]
    database = open_database(settings.database_url)
    try:
        events = [e.as_message() for e in progress_after(database, 0, run_id=run_id)]
        calls = ledger_totals(database, run_id).calls
    finally:
        database.close()
    model_events = [str(e["what"]) for e in events if e["kind"] == "llm"]
    return end.state, accepted, refused, model_events, calls


def _most_in_any_window(times: list[float], seconds: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for later in ordered if start <= later < start + seconds) for start in ordered)


def test_without_a_kept_limit_two_live_phases_meet_the_providers_limit_as_429s(
    tmp_path: Path,
) -> None:
    state, _, refused, model_events, _ = _run(tmp_path / "calc", "")
    assert state is RunState.DONE_SUCCESS
    assert refused > 0
    assert model_events.count("retry") == refused  # each sent again after the provider's wait


def test_with_the_limit_kept_no_request_of_two_live_phases_is_refused(tmp_path: Path) -> None:
    state, accepted, refused, model_events, calls = _run(tmp_path / "calc", KEPT_LIMIT)
    assert state is RunState.DONE_SUCCESS
    assert refused == 0
    assert "retry" not in model_events
    assert calls == len(accepted) >= 4  # each a request the run sent and paid
    assert _most_in_any_window(accepted, PROVIDER_LIMIT.seconds) <= 2
