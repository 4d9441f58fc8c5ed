"""The `learned` routing policy: the Builder's alias per phase, from the project's own record.

For a phase that is not high-risk, the cheapest configured alias by observed USD per successful
phase replaces the static table's choice when, over at least `min_observations` ended phases of
the same task category and complexity, the lower bound of its success rate (Wilson score interval
at `confidence`) is not below the static choice's, which must itself rest on as many phases.
Bound against bound: what each record proves, so a cheaper alias as good on as much evidence
replaces a dearer one, and one that merely had a lucky short run does not. Observed USD per successful phase is the comparison, not list prices: it already
holds what failures, retries and output length cost with that model on this kind of work, which
a price per token cannot. The choice is made once, when the strategy is compiled, and frozen
with the run, together with its reason.
"""

from __future__ import annotations

from decimal import Decimal
from math import sqrt
from statistics import NormalDist

from autopack.domain.strategy import RouteChoice
from autopack.domain.vocabulary import Complexity, Role, TaskCategory
from autopack.store.model_figures import ModelFigures, ModelHistory
from autopack.strategy.routing import Routing, RoutingPolicy


def wilson_lower_bound(successes: int, trials: int, confidence: float) -> float:
    """The lower end of the Wilson score interval of a success rate; 0 with no trials."""
    if trials == 0:
        return 0.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    rate = successes / trials
    centre = rate + z * z / (2 * trials)
    spread = z * sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - spread) / (1 + z * z / trials))


def route_phase(
    routing: Routing,
    task_category: TaskCategory,
    complexity: Complexity,
    *,
    high_risk: bool,
    history: ModelHistory | None,
    known_aliases: frozenset[str],
) -> dict[Role, RouteChoice]:
    """Every role's alias for one phase, with who chose it and why."""
    return {
        role: _route_role(
            routing,
            role,
            task_category,
            complexity,
            high_risk=high_risk,
            history=history,
            known_aliases=known_aliases,
        )
        for role in Role
    }


def _route_role(
    routing: Routing,
    role: Role,
    task_category: TaskCategory,
    complexity: Complexity,
    *,
    high_risk: bool,
    history: ModelHistory | None,
    known_aliases: frozenset[str],
) -> RouteChoice:
    static_alias = routing.alias_for(role, complexity, high_risk=high_risk)
    where = f"{role.value} at {complexity.value} complexity"

    def static(reason: str) -> RouteChoice:
        return RouteChoice(
            policy=RoutingPolicy.STATIC.value,
            alias=static_alias,
            static_alias=static_alias,
            reason=reason,
        )

    level = routing.level_for(role, complexity, high_risk=False)
    table = (
        "routing table: high-risk category -> top"
        if high_risk
        else f"routing table: {where} -> {level.value}"
    )
    if routing.policy is RoutingPolicy.STATIC:
        return static(table)
    if high_risk:
        return static(f"{table} (high-risk phases are never routed by history)")
    # The Builder's record says whether the phase committed; an Auditor or Planner's does not say
    # whether it judged or planned well (a lax Auditor would look successful), so they stay put.
    if role is not Role.BUILDER:
        return static(f"{table} (history routes the builder only)")
    kind = f"{task_category.value}/{complexity.value}"
    baseline = history.get(static_alias, task_category.value, complexity.value) if history else None
    if baseline is None or baseline.phases < routing.min_observations:
        seen = baseline.phases if baseline else 0
        return static(
            f"{table}; {static_alias} has {seen} ended {kind} phases, fewer than "
            f"min_observations {routing.min_observations}"
        )
    best = _cheapest_proven(routing, baseline, history, known_aliases)
    if best is None:
        return static(
            f"{table}; no alias with {routing.min_observations}+ {kind} phases is cheaper than "
            f"{static_alias} ({_cost(baseline)}) with a success rate lower bound not below its "
            f"{_floor(routing, baseline):.2f}"
        )
    figures, lower = best
    return RouteChoice(
        policy=RoutingPolicy.LEARNED.value,
        alias=figures.alias,
        static_alias=static_alias,
        reason=(
            f"{figures.alias} {_cost(figures)} over {figures.phases} {kind} phases "
            f"(success {figures.successes}/{figures.phases}, {routing.confidence:.0%} lower bound "
            f"{lower:.2f} >= {static_alias}'s {_floor(routing, baseline):.2f}), cheaper than "
            f"{static_alias} {_cost(baseline)}"
        ),
    )


def _cheapest_proven(
    routing: Routing,
    baseline: ModelFigures,
    history: ModelHistory | None,
    known_aliases: frozenset[str],
) -> tuple[ModelFigures, float] | None:
    if history is None:
        return None
    ceiling = baseline.usd_per_success
    floor = _floor(routing, baseline)
    proven: list[tuple[Decimal, float, str]] = []
    by_alias: dict[str, ModelFigures] = {}
    for figures in history.figures:
        if (
            figures.alias == baseline.alias
            or figures.alias not in known_aliases
            or figures.task_category != baseline.task_category
            or figures.complexity != baseline.complexity
            or figures.phases < routing.min_observations
        ):
            continue
        cost = figures.usd_per_success
        if cost is None or (ceiling is not None and cost >= ceiling):
            continue
        lower = wilson_lower_bound(figures.successes, figures.phases, routing.confidence)
        if lower < floor:
            continue
        # Cheapest first; among equals the better-proven, then by name, so a resume or another
        # worker compiling the same history picks the same alias.
        proven.append((cost, -lower, figures.alias))
        by_alias[figures.alias] = figures
    if not proven:
        return None
    _, negative_lower, alias = min(proven)
    return by_alias[alias], -negative_lower


def _floor(routing: Routing, figures: ModelFigures) -> float:
    """What an alias's record proves of its success rate: the lower bound of its interval."""
    return wilson_lower_bound(figures.successes, figures.phases, routing.confidence)


def _cost(figures: ModelFigures) -> str:
    cost = figures.usd_per_success
    return "with no successful phase" if cost is None else f"${cost:.4f}/successful phase"


def escalation_target(routing: Routing, route: RouteChoice | None, alias_name: str) -> str | None:
    """Where an attempt after one without progress goes: one level up the ladder, or, from a
    learned alias off the ladder, back to the static table's choice."""
    if alias_name not in routing.ladder and route is not None and route.static_alias != alias_name:
        return route.static_alias
    return routing.escalated(alias_name)
