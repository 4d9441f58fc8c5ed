"""What a run-status request shows, read in one transaction: one snapshot, and on the API's
busiest path one BEGIN instead of three (the run, its line and spend, its chain)."""

from __future__ import annotations

from typing import NamedTuple

from autopack.store.chains import RunChain, chain_in
from autopack.store.engine import Database
from autopack.store.reports import RunListing, listing_in
from autopack.store.runs import RunRecord, run_record


class RunStatus(NamedTuple):
    record: RunRecord
    listing: RunListing
    chain: RunChain | None


def run_status(database: Database, run_id: str) -> RunStatus:
    """NotFound if there is no such run."""
    with database.reading() as session:
        record = run_record(session, run_id)
        listing = listing_in(session, run_id)
        assert listing is not None  # the same snapshot holds the run
        return RunStatus(record, listing, chain_in(session, run_id))
