"""[routing] policy learned: the Builder's alias from the project's record, or the static table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.vocabulary import Complexity, Role, TaskCategory
from autopack.llm.aliases import default_aliases
from autopack.store.model_figures import ModelFigures, ModelHistory
from autopack.strategy.engine import StrategyInputs, compile_strategy
from autopack.strategy.learned_routing import escalation_target, route_phase, wilson_lower_bound
from autopack.strategy.routing import Routing, RoutingPolicy
from autopack.strategy.ruleset import Ruleset

LEARNED = Routing(policy=RoutingPolicy.LEARNED)
STATIC_TABLE = Routing(policy=RoutingPolicy.STATIC)
KNOWN = frozenset(default_aliases())
FEATURE, MEDIUM = TaskCategory.FEATURE, Complexity.MEDIUM
STATIC = "anthropic-standard"  # the table's Builder at medium complexity


def _figures(
    alias: str, phases: int, successes: int, usd: str, category: str = "feature"
) -> ModelFigures:
    return ModelFigures(
        alias=alias,
        task_category=category,
        complexity="medium",
        phases=phases,
        attempts=phases,
        successes=successes,
        usd=Decimal(usd),
        tokens=1000 * phases,
    )


def _builder(
    *figures: ModelFigures,
    routing: Routing = LEARNED,
    high_risk: bool = False,
    known: frozenset[str] = KNOWN,
) -> tuple[str, str, str]:
    route = route_phase(
        routing,
        FEATURE,
        MEDIUM,
        high_risk=high_risk,
        history=ModelHistory(figures=figures),
        known_aliases=known,
    )[Role.BUILDER]
    return route.policy, route.alias, route.reason


# The static choice commits 6 of 10 feature/medium phases at $1 each: $1.6667 per success.
BASELINE = _figures(STATIC, 10, 6, "10")


def test_wilson_lower_bound_matches_the_published_interval() -> None:
    assert wilson_lower_bound(5, 10, 0.95) == pytest.approx(0.2366, abs=1e-4)
    assert wilson_lower_bound(8, 8, 0.95) == pytest.approx(0.6756, abs=1e-4)
    assert wilson_lower_bound(8, 8, 0.99) < wilson_lower_bound(8, 8, 0.95)
    assert wilson_lower_bound(0, 10, 0.95) == pytest.approx(0.0, abs=1e-12)
    assert wilson_lower_bound(0, 0, 0.95) == 0.0


def test_a_cheaper_alias_proven_as_good_is_chosen_with_its_reason() -> None:
    policy, alias, reason = _builder(BASELINE, _figures("anthropic-fast", 8, 8, "0.80"))
    assert (policy, alias) == ("learned", "anthropic-fast")
    assert reason == (
        "anthropic-fast $0.1000/successful phase over 8 feature/medium phases (success 8/8, "
        "95% lower bound 0.68 >= anthropic-standard's 0.31), cheaper than anthropic-standard "
        "$1.6667/successful phase"
    )


def test_under_the_static_policy_the_record_changes_nothing() -> None:
    policy, alias, reason = _builder(
        BASELINE, _figures("anthropic-fast", 8, 8, "0.80"), routing=STATIC_TABLE
    )
    assert (policy, alias) == ("static", STATIC)
    assert reason == "routing table: builder at medium complexity -> standard"


def test_fewer_than_min_observations_is_not_evidence() -> None:
    assert _builder(BASELINE, _figures("anthropic-fast", 7, 7, "0.70"))[1] == STATIC
    fewer = Routing(policy=RoutingPolicy.LEARNED, min_observations=7)
    assert _builder(BASELINE, _figures("anthropic-fast", 7, 7, "0.70"), routing=fewer)[1] == (
        "anthropic-fast"
    )


def test_a_static_choice_with_exactly_min_observations_is_compared() -> None:
    assert _builder(_figures(STATIC, 8, 1, "8"), _figures("anthropic-fast", 8, 8, "0.80"))[1] == (
        "anthropic-fast"
    )


def test_a_static_choice_with_too_little_record_is_kept() -> None:
    policy, alias, reason = _builder(
        _figures(STATIC, 7, 1, "10"), _figures("anthropic-fast", 50, 50, "0.50")
    )
    assert (policy, alias) == ("static", STATIC)
    assert reason.endswith(
        "anthropic-standard has 7 ended feature/medium phases, fewer than min_observations 8"
    )
    assert "has 0 ended" in _builder(_figures("anthropic-fast", 50, 50, "0.50"))[2]


def test_the_lower_bound_must_reach_the_static_choices_lower_bound() -> None:
    # The static choice's 6 of 10 proves 0.31; 3 of 8 proves only 0.14, 4 of 8 proves 0.22.
    assert _builder(BASELINE, _figures("anthropic-fast", 8, 3, "0.80"))[1] == STATIC
    assert _builder(BASELINE, _figures("anthropic-fast", 8, 4, "0.80"))[1] == STATIC
    # 16 of 50 is a lower rate (0.32) than 6 of 10 (0.60), but as much proven: 0.21 < 0.31.
    assert _builder(BASELINE, _figures("anthropic-fast", 50, 16, "5"))[1] == STATIC
    # 20 of 50 proves 0.28, still short; 38 of 50 proves 0.63 and is taken.
    assert _builder(BASELINE, _figures("anthropic-fast", 50, 20, "5"))[1] == STATIC
    assert _builder(BASELINE, _figures("anthropic-fast", 50, 38, "5"))[1] == "anthropic-fast"
    # A cheaper alias exactly as good on the same evidence proves the same: it is taken.
    assert _builder(BASELINE, _figures("anthropic-fast", 10, 6, "5"))[1] == "anthropic-fast"
    # One phase fewer proven and it is not.
    assert _builder(BASELINE, _figures("anthropic-fast", 10, 5, "5"))[1] == STATIC
    # A stricter confidence lowers both bounds, the short record's more: at 99% 7 of 8 proves
    # 0.42 against 6 of 10's 0.25 (taken), while 4 of 8 proves 0.16 (not).
    strict = Routing(policy=RoutingPolicy.LEARNED, confidence=0.99)
    assert _builder(BASELINE, _figures("anthropic-fast", 8, 7, "0.80"), routing=strict)[1] == (
        "anthropic-fast"
    )
    assert _builder(BASELINE, _figures("anthropic-fast", 8, 4, "0.80"), routing=strict)[1] == STATIC


def test_only_a_cheaper_alias_replaces_the_static_choice() -> None:
    # Equal cost per successful phase: the table's choice stays.
    same = _figures("anthropic-fast", 60, 60, str(Decimal(60) * BASELINE.usd_per_success))  # type: ignore[operator]
    assert _builder(BASELINE, same)[1] == STATIC
    assert _builder(BASELINE, _figures("anthropic-top", 60, 60, "200"))[1] == STATIC


def test_an_unfit_alias_listed_first_does_not_hide_a_fit_one() -> None:
    fit = _figures("openai-fast", 20, 20, "2")
    for unfit in (
        _figures("anthropic-top", 60, 60, "200"),  # dearer
        _figures("anthropic-fast", 20, 10, "0.1"),  # cheaper, not proven as good
        _figures("local", 50, 50, "0"),  # not a configured alias here
    ):
        known = KNOWN - {"local"}
        assert _builder(unfit, BASELINE, fit, known=known)[1] == "openai-fast"
        assert _builder(BASELINE, unfit, fit, known=known)[1] == "openai-fast"


def test_the_cheapest_wins_then_the_better_proven_then_the_name() -> None:
    cheap = _figures("openai-fast", 20, 20, "2")
    cheaper = _figures("anthropic-fast", 20, 20, "1")
    assert _builder(BASELINE, cheap, cheaper)[1] == "anthropic-fast"
    # Same $/success (0.10): 40 of 40 is better proven than 20 of 20.
    better_proven = _figures("openai-fast", 40, 40, "4")
    assert _builder(BASELINE, _figures("anthropic-fast", 20, 20, "2"), better_proven)[1] == (
        "openai-fast"
    )
    # Same cost and the same record: the first name, whatever the order of the figures.
    twins = (_figures("openai-fast", 20, 20, "2"), _figures("anthropic-fast", 20, 20, "2"))
    assert _builder(BASELINE, *twins)[1] == "anthropic-fast"
    assert _builder(BASELINE, *reversed(twins))[1] == "anthropic-fast"


def test_an_alias_never_successful_is_never_chosen_and_a_failing_static_one_is_replaced() -> None:
    assert _builder(BASELINE, _figures("anthropic-fast", 50, 0, "0"))[1] == STATIC
    hopeless = _figures(STATIC, 10, 0, "10")
    _, alias, reason = _builder(hopeless, _figures("anthropic-fast", 8, 1, "1"))
    assert alias == "anthropic-fast"
    assert reason.endswith("cheaper than anthropic-standard with no successful phase")


def test_high_risk_phases_stay_on_the_static_top_choice() -> None:
    top = _figures("anthropic-top", 10, 6, "10")
    policy, alias, reason = _builder(top, _figures("anthropic-fast", 50, 50, "1"), high_risk=True)
    assert (policy, alias) == ("static", "anthropic-top")
    assert reason == (
        "routing table: high-risk category -> top (high-risk phases are never routed by history)"
    )
    static = _builder(top, routing=STATIC_TABLE, high_risk=True)
    assert static == ("static", "anthropic-top", "routing table: high-risk category -> top")


def test_aliases_the_settings_no_longer_have_are_ignored() -> None:
    gone = _figures("retired-alias", 50, 50, "1")
    assert _builder(BASELINE, gone, known=KNOWN)[1] == STATIC
    assert _builder(BASELINE, gone, known=KNOWN | {"retired-alias"})[1] == "retired-alias"


def test_another_category_is_no_evidence() -> None:
    assert _builder(BASELINE, _figures("anthropic-fast", 50, 50, "1", category="docs"))[1] == STATIC


def test_the_auditor_and_planner_stay_on_the_table() -> None:
    routes = route_phase(
        LEARNED,
        FEATURE,
        MEDIUM,
        high_risk=False,
        history=ModelHistory(figures=(BASELINE, _figures("anthropic-fast", 50, 50, "1"))),
        known_aliases=KNOWN,
    )
    assert routes[Role.AUDITOR].alias == "anthropic-standard"
    assert routes[Role.AUDITOR].policy == "static"
    assert routes[Role.PLANNER].policy == "static"


def test_escalation_from_a_learned_alias_off_the_ladder_goes_to_the_static_choice() -> None:
    routes = route_phase(
        LEARNED,
        FEATURE,
        MEDIUM,
        high_risk=False,
        history=ModelHistory(figures=(BASELINE, _figures("openai-fast", 50, 50, "1"))),
        known_aliases=KNOWN,
    )
    route = routes[Role.BUILDER]
    assert route.alias == "openai-fast"
    assert escalation_target(LEARNED, route, "openai-fast") == STATIC
    assert escalation_target(LEARNED, route, STATIC) == "anthropic-top"
    assert escalation_target(LEARNED, None, "anthropic-fast") == STATIC
    assert escalation_target(LEARNED, None, "openai-fast") is None
    # A learned alias on the ladder climbs it like any other.
    on_ladder = route.model_copy(
        update={"alias": "anthropic-fast", "static_alias": "anthropic-top"}
    )
    assert escalation_target(LEARNED, on_ladder, "anthropic-fast") == STATIC


def _plan() -> PlanSpec:
    phase = PhaseSpec(id="p1", title="Add a greeting", tier_id="1", category=FEATURE)
    return PlanSpec(title="Plan", tiers=(TierSpec(id="1", name="Tier 1", phases=(phase,)),))


def _compiled(routing: Routing, history: ModelHistory | None) -> dict[Role, str]:
    strategy = compile_strategy(
        StrategyInputs(
            run_id="run-1",
            project_id="demo",
            plan=_plan(),
            ruleset=Ruleset(),
            routing=routing,
            aliases=default_aliases(),
            history=history,
        )
    )
    phase = strategy.phases[0]
    assert (phase.task_category, phase.complexity) == (FEATURE, MEDIUM)
    assert {role: route.alias for role, route in phase.routes.items()} == phase.models
    return phase.models


def test_the_strategy_freezes_the_learned_builder() -> None:
    history = ModelHistory(figures=(BASELINE, _figures("anthropic-fast", 8, 8, "0.80")))
    assert _compiled(LEARNED, history)[Role.BUILDER] == "anthropic-fast"
    assert _compiled(STATIC_TABLE, history)[Role.BUILDER] == STATIC
    assert _compiled(LEARNED, None)[Role.BUILDER] == STATIC
