"""Escalating a phase's model after an attempt that made no progress: one level up, then no further."""

from __future__ import annotations

from autopack.strategy.routing import Routing


def test_escalation_climbs_one_level_at_a_time_and_stops_at_the_top() -> None:
    routing = Routing()
    assert routing.escalated("anthropic-fast") == "anthropic-standard"
    assert routing.escalated("anthropic-standard") == "anthropic-top"
    assert routing.escalated("anthropic-top") is None


def test_escalation_skips_levels_served_by_the_same_alias_and_ignores_strangers() -> None:
    routing = Routing(top="big", standard="small", fast="small")
    assert routing.escalated("small") == "big"
    assert routing.escalated("local") is None
