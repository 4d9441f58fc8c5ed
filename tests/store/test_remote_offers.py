"""Offers to remote Builders on both databases: one holder at a time, leases that lapse, one
submission per attempt, and lease tokens never stored as given."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from autopack.errors import NotFound, PolicyViolation
from autopack.store.engine import Database
from autopack.store.remote_offers import (
    Offer,
    OfferRefused,
    OfferStatus,
    Submission,
    claim_offer,
    get_offer,
    offer_attempt,
    open_offers,
    renew_lease,
    submit_offer,
    withdraw_offer,
)
from autopack.store.runs import create_run
from autopack.store.schema import RemoteOfferRow, utc_now
from autopack.testing.runs import blueprint

PATCH = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"


def _offer(database: Database, attempt: int = 1, lease_seconds: int = 60) -> Offer:
    return offer_attempt(
        database,
        project_id="demo",
        run_id="run-1",
        phase_id="a",
        attempt=attempt,
        base_commit="0" * 40,
        task={"title": "Phase a"},
        policy={},
        allowance_tokens=1_000,
        allowance_usd=Decimal("0.5"),
        lease_seconds=lease_seconds,
    )


@pytest.fixture
def run(database: Database) -> Database:
    create_run(database, blueprint("run-1"))
    return database


def _rule(refused: pytest.ExceptionInfo[OfferRefused]) -> str:
    return refused.value.rule


def test_of_many_claimants_at_once_exactly_one_holds_the_attempt(run: Database) -> None:
    offer = _offer(run)

    def claim(number: int) -> str:
        try:
            return claim_offer(run, offer.offer_id, f"agent-{number}")[1]
        except OfferRefused as refused:
            return refused.rule

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(claim, range(8)))
    assert answers.count("lease.held") == 7
    assert len(set(answers)) == 2
    held = get_offer(run, offer.offer_id)
    assert held.status is OfferStatus.CLAIMED
    assert held.claims == 1
    assert open_offers(run) == []


def test_a_lapsed_lease_is_offered_again_and_its_holder_refused(run: Database) -> None:
    offer = _offer(run, lease_seconds=1)
    claimed, first = claim_offer(run, offer.offer_id, "slow")
    assert claimed.lease_expires_at is not None
    renewed = renew_lease(run, offer.offer_id, first).lease_expires_at
    # Renewed from now, forward: a full lease again, later than the first.
    assert renewed is not None
    assert renewed >= claimed.lease_expires_at
    assert renewed > utc_now() + timedelta(seconds=0.5)
    time.sleep(1.2)
    with pytest.raises(OfferRefused) as refused:
        renew_lease(run, offer.offer_id, first)
    assert _rule(refused) == "lease.expired"
    assert [o.offer_id for o in open_offers(run)] == [offer.offer_id]
    _, second = claim_offer(run, offer.offer_id, "fast")
    with pytest.raises(OfferRefused, match="not the attempt's current one") as refused:
        submit_offer(run, offer.offer_id, first, Submission(patch=PATCH))
    assert _rule(refused) == "lease.unknown"
    before = utc_now()
    taken = submit_offer(run, offer.offer_id, second, Submission(patch=PATCH, summary="done"))
    assert taken.submitted_at is not None
    assert taken.submitted_at >= before - timedelta(seconds=1)
    assert taken.status is OfferStatus.SUBMITTED
    assert taken.claimed_by == "fast"
    assert taken.submission is not None
    assert taken.submission.summary == "done"
    with pytest.raises(OfferRefused) as refused:
        submit_offer(run, offer.offer_id, second, Submission(patch=PATCH))
    assert _rule(refused) == "offer.submitted"
    with pytest.raises(OfferRefused) as refused:
        claim_offer(run, offer.offer_id, "late")
    assert _rule(refused) == "offer.submitted"


def test_a_refused_submission_keeps_the_lease(run: Database) -> None:
    offer = _offer(run)
    _, token = claim_offer(run, offer.offer_id, "agent")

    def refuse(judged: Offer, __: Submission) -> None:
        # The check judges the offer as stored: its policy is the run's.
        assert judged.offer_id == offer.offer_id
        raise PolicyViolation(".github/workflows/x.yml", "path.protected", "protected")

    with pytest.raises(PolicyViolation):
        submit_offer(run, offer.offer_id, token, Submission(patch=PATCH), refuse)
    assert get_offer(run, offer.offer_id).status is OfferStatus.CLAIMED
    assert submit_offer(run, offer.offer_id, token, Submission(patch=PATCH)).submission


def test_the_lease_token_is_stored_only_as_its_digest(run: Database) -> None:
    offer = _offer(run)
    _, token = claim_offer(run, offer.offer_id, "agent")
    with run.reading() as session:
        row = session.scalars(select(RemoteOfferRow)).one()
        stored = [str(value) for value in vars(row).values()]
    assert not any(token in value for value in stored)


def test_an_offer_is_made_once_per_attempt_and_withdrawn_ones_come_back(run: Database) -> None:
    offer = _offer(run)
    with pytest.raises(NotFound, match="no offer 'ffffffffffffffff'"):
        get_offer(run, "ffffffffffffffff")
    assert get_offer(run, offer.offer_id).offered_at == offer.offered_at
    assert _offer(run).offer_id == offer.offer_id
    assert _offer(run, attempt=2).offer_id != offer.offer_id
    _, token = claim_offer(run, offer.offer_id, "agent")
    withdraw_offer(run, offer.offer_id)
    with pytest.raises(OfferRefused) as refused:
        submit_offer(run, offer.offer_id, token, Submission(patch=PATCH))
    assert _rule(refused) == "offer.withdrawn"
    # A resumed run waits on the same attempt again: it is on offer, to anyone.
    again = _offer(run)
    assert again.offer_id == offer.offer_id
    assert again.status is OfferStatus.OFFERED
    assert open_offers(run, project_ids=["other"]) == []
    assert [o.offer_id for o in open_offers(run, run_ids=["run-1"])] == [
        offer.offer_id,
        _offer(run, attempt=2).offer_id,
    ]
