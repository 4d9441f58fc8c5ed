"""Routing simulation: USD per successful phase and success rate under always-top, the static
routing table and [routing] policy learned, on a synthetic history replayed through the real
policy (compile_strategy, strategy/learned_routing.py) and a real SQLite store (model_history,
seed_run writing phases, attempts and ledger rows through the store's own functions).

The synthetic world, stated here and nowhere else:

- Aliases: the shipped anthropic-top / -standard / -fast and their list prices.
- Each phase kind (category, complexity) uses the same tokens per Builder attempt whatever the
  model (TOKENS); an attempt commits with the probability SUCCESS[scenario][kind][alias].
- A phase's Builder tries at most 3 times; after a failed attempt it escalates as the run does
  (escalation_target: one level up the ladder, or back to the static choice).
- History: before the measured runs, each alias that could replace the table's choice, and that
  choice, already served --warmup phases of each kind that is not high-risk (earlier runs under other routing tables, or --llm runs); the learned
  policy does not explore by itself, so without such a record it is the static table.
- Measured: RUNS runs, each of the phase mix MIX; after each run its phases join the record the
  next run's strategy is compiled from. Every policy meets the same random draws per attempt.

Scenarios: "cheap-model-better-on-simple-work" (the fast model commits docs, tests and config
phases more often than the standard one), "cheap-model-better-on-medium-work-too" (and feature
and bugfix phases of medium complexity), and "cheap-model-as-good" (the same rates): the policy
switches only on a lower bound that reaches the static choice's observed rate, so in the second
it cannot adopt the cheaper model and saves nothing.

    .venv/bin/python bench/cost_routing.py [--json] [--runs 5] [--warmup 60] [--seed 17]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from autopack.domain.plan import PhaseSpec, PlanSpec, TierSpec
from autopack.domain.vocabulary import Complexity, Role, TaskCategory
from autopack.llm.aliases import ModelAlias, default_aliases
from autopack.store.engine import Database, database_url_for, open_database
from autopack.store.model_figures import ModelHistory, model_history
from autopack.strategy.engine import StrategyInputs, compile_strategy
from autopack.strategy.learned_routing import escalation_target
from autopack.strategy.routing import Routing, RoutingPolicy
from autopack.strategy.ruleset import Ruleset
from autopack.testing.model_history import PastAttempt, PastPhase, seed_run

TOP, STANDARD, FAST = "anthropic-top", "anthropic-standard", "anthropic-fast"
Kind = tuple[TaskCategory, Complexity]
DOCS = (TaskCategory.DOCS, Complexity.LOW)
TESTS = (TaskCategory.TESTS, Complexity.LOW)
CONFIG = (TaskCategory.CONFIG, Complexity.LOW)
FEATURE = (TaskCategory.FEATURE, Complexity.MEDIUM)
BUGFIX = (TaskCategory.BUGFIX, Complexity.MEDIUM)
FEATURE_HIGH = (TaskCategory.FEATURE, Complexity.HIGH)
SCHEMA = (TaskCategory.SCHEMA_CONTRACT_CHANGE, Complexity.HIGH)  # high-risk: always top
KINDS = (DOCS, TESTS, CONFIG, FEATURE, BUGFIX, FEATURE_HIGH, SCHEMA)

# (input, output) tokens of one Builder attempt.
TOKENS: dict[Kind, tuple[int, int]] = {
    DOCS: (20_000, 2_500),
    TESTS: (30_000, 4_000),
    CONFIG: (15_000, 1_500),
    FEATURE: (80_000, 10_000),
    BUGFIX: (60_000, 6_000),
    FEATURE_HIGH: (150_000, 20_000),
    SCHEMA: (150_000, 20_000),
}
# Phases of each kind in one run: a plan of 16 phases, most of them small.
MIX: dict[Kind, int] = {
    DOCS: 3,
    TESTS: 4,
    CONFIG: 2,
    FEATURE: 3,
    BUGFIX: 2,
    FEATURE_HIGH: 1,
    SCHEMA: 1,
}
_MEDIUM_AND_HIGH: dict[Kind, dict[str, float]] = {
    FEATURE: {TOP: 0.96, STANDARD: 0.88, FAST: 0.70},
    BUGFIX: {TOP: 0.95, STANDARD: 0.87, FAST: 0.68},
    FEATURE_HIGH: {TOP: 0.92, STANDARD: 0.78, FAST: 0.45},
    SCHEMA: {TOP: 0.90, STANDARD: 0.75, FAST: 0.40},
}
SUCCESS: dict[str, dict[Kind, dict[str, float]]] = {
    "cheap-model-better-on-simple-work": {
        DOCS: {TOP: 0.97, STANDARD: 0.88, FAST: 0.97},
        TESTS: {TOP: 0.97, STANDARD: 0.87, FAST: 0.96},
        CONFIG: {TOP: 0.97, STANDARD: 0.88, FAST: 0.97},
        **_MEDIUM_AND_HIGH,
    },
    "cheap-model-better-on-medium-work-too": {
        DOCS: {TOP: 0.97, STANDARD: 0.88, FAST: 0.97},
        TESTS: {TOP: 0.97, STANDARD: 0.87, FAST: 0.96},
        CONFIG: {TOP: 0.97, STANDARD: 0.88, FAST: 0.97},
        **_MEDIUM_AND_HIGH,
        FEATURE: {TOP: 0.96, STANDARD: 0.82, FAST: 0.93},
        BUGFIX: {TOP: 0.95, STANDARD: 0.80, FAST: 0.92},
    },
    "cheap-model-as-good": {
        DOCS: {TOP: 0.97, STANDARD: 0.93, FAST: 0.93},
        TESTS: {TOP: 0.97, STANDARD: 0.92, FAST: 0.92},
        CONFIG: {TOP: 0.97, STANDARD: 0.93, FAST: 0.93},
        **_MEDIUM_AND_HIGH,
    },
}
MAX_ATTEMPTS = 3
PROJECT = "bench-routing"
POLICIES = ("always-top", "static", "learned")


@dataclass(frozen=True)
class RoutingRow:
    scenario: str
    policy: str
    phases: int
    successful_phases: int
    first_try: int
    usd: Decimal
    builder_routes: str

    @property
    def success_rate(self) -> float:
        return self.successful_phases / self.phases

    @property
    def usd_per_successful_phase(self) -> Decimal:
        return (self.usd / self.successful_phases).quantize(Decimal("0.0001"))

    def as_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "phases": self.phases,
            "successful_phases": self.successful_phases,
            "success_rate": round(self.success_rate, 4),
            "first_try_rate": round(self.first_try / self.phases, 4),
            "usd": str(self.usd.quantize(Decimal("0.0001"))),
            "usd_per_successful_phase": str(self.usd_per_successful_phase),
            "builder_routes": self.builder_routes,
        }


def _attempt(alias: str, kind: Kind, aliases: dict[str, ModelAlias]) -> PastAttempt:
    tokens_in, tokens_out = TOKENS[kind]
    return PastAttempt(
        alias, tokens_in, tokens_out, aliases[alias].cost_usd(tokens_in, 0, tokens_out)
    )


def _play(
    first: str,
    route_static: str,
    kind: Kind,
    odds: dict[str, float],
    draws: list[float],
    routing: Routing,
) -> tuple[list[str], bool]:
    """The aliases a phase's Builder attempts used, and whether it committed; attempt i succeeds
    when draws[i] falls under the alias's probability (the same draws for every policy)."""
    from autopack.domain.strategy import RouteChoice

    route = RouteChoice(policy="bench", alias=first, static_alias=route_static, reason="")
    used, alias = [], first
    for draw in draws[:MAX_ATTEMPTS]:
        used.append(alias)
        if draw < odds[alias]:
            return used, True
        alias = escalation_target(routing, route, alias) or alias
    return used, False


def _plan() -> PlanSpec:
    phases = tuple(
        PhaseSpec(
            id=f"{category.value}-{complexity.value}",
            title=f"{category.value} work",
            tier_id="1",
            category=category,
            complexity=complexity,
        )
        for category, complexity in KINDS
    )
    return PlanSpec(title="Routing bench", tiers=(TierSpec(id="1", name="All", phases=phases),))


def _builder_choices(
    routing: Routing, aliases: dict[str, ModelAlias], history: ModelHistory | None
) -> dict[Kind, tuple[str, str]]:
    """Each kind's Builder alias and static alias, from the real StrategyEngine."""
    strategy = compile_strategy(
        StrategyInputs(
            run_id="bench",
            project_id=PROJECT,
            plan=_plan(),
            ruleset=Ruleset(),
            routing=routing,
            aliases=aliases,
            history=history,
        )
    )
    choices: dict[Kind, tuple[str, str]] = {}
    for phase in strategy.phases:
        route = phase.routes[Role.BUILDER]
        choices[(phase.task_category, phase.complexity)] = (route.alias, route.static_alias)
    assert set(choices) == set(KINDS), "the plan's phases were classified differently"
    return choices


def _warm_up(
    database: Database,
    aliases: dict[str, ModelAlias],
    scenario: str,
    count: int,
    rng: random.Random,
) -> None:
    phases = []
    for category, complexity in KINDS:
        if (category, complexity) == SCHEMA:
            continue
        # The top model is never the cheaper choice where the table already picks a cheaper one.
        served = (TOP, STANDARD, FAST) if complexity is Complexity.HIGH else (STANDARD, FAST)
        for alias in served:
            for n in range(count):
                committed = rng.random() < SUCCESS[scenario][(category, complexity)][alias]
                phases.append(
                    PastPhase(
                        f"w-{category.value}-{complexity.value}-{alias}-{n}",
                        category,
                        complexity,
                        (_attempt(alias, (category, complexity), aliases),),
                        committed,
                    )
                )
    seed_run(database, aliases, project_id=PROJECT, run_id=f"warmup-{scenario}", phases=phases)


def simulate(runs: int = 5, warmup: int = 60, seed: int = 17) -> list[RoutingRow]:
    """The table rows: per scenario, always-top, static and learned over the same phases."""
    aliases = default_aliases()
    routing = Routing(top=TOP, standard=STANDARD, fast=FAST)
    learned = routing.model_copy(update={"policy": RoutingPolicy.LEARNED})
    rows: list[RoutingRow] = []
    for scenario in SUCCESS:
        rng = random.Random(seed)
        # A RAM-backed folder when there is one: the same SQLite, without a disk sync per write.
        memory = "/dev/shm" if Path("/dev/shm").is_dir() else None
        with tempfile.TemporaryDirectory(prefix="autopack-bench-routing-", dir=memory) as folder:
            database = open_database(database_url_for(Path(folder), {}))
            try:
                _warm_up(database, aliases, scenario, warmup, rng)
                totals: dict[str, list[int | Decimal]] = {
                    p: [0, 0, 0, Decimal(0)] for p in POLICIES
                }
                routes: dict[str, set[str]] = {policy: set() for policy in POLICIES}
                static_choices = _builder_choices(routing, aliases, None)
                for run in range(runs):
                    history = model_history(database, aliases, PROJECT)
                    choices = {
                        "always-top": {kind: (TOP, TOP) for kind in KINDS},
                        "static": static_choices,
                        "learned": _builder_choices(learned, aliases, history),
                    }
                    played: list[PastPhase] = []
                    for kind, count in MIX.items():
                        for n in range(count):
                            draws = [rng.random() for _ in range(MAX_ATTEMPTS)]
                            for policy in POLICIES:
                                first, static = choices[policy][kind]
                                used, committed = _play(
                                    first, static, kind, SUCCESS[scenario][kind], draws, routing
                                )
                                attempts = tuple(_attempt(alias, kind, aliases) for alias in used)
                                total = totals[policy]
                                total[0] += 1
                                total[1] += int(committed)
                                total[2] += int(committed and len(used) == 1)
                                total[3] += sum((a.usd for a in attempts), Decimal(0))
                                if first != static:
                                    routes[policy].add(
                                        f"{kind[0].value}/{kind[1].value} -> {first}"
                                    )
                                if policy == "learned":
                                    played.append(
                                        PastPhase(
                                            f"{kind[0].value}-{kind[1].value}-{n}",
                                            kind[0],
                                            kind[1],
                                            attempts,
                                            committed,
                                        )
                                    )
                    # What the learned policy's run did is the record its next run is compiled from.
                    seed_run(
                        database, aliases, project_id=PROJECT, run_id=f"run-{run}", phases=played
                    )
            finally:
                database.close()
        for policy in POLICIES:
            phases, successes, first_try, usd = totals[policy]
            away = ", ".join(sorted(routes[policy]))
            rows.append(
                RoutingRow(
                    scenario,
                    policy,
                    int(phases),
                    int(successes),
                    int(first_try),
                    Decimal(usd),
                    away,
                )
            )
    return rows


def saving(rows: list[RoutingRow], scenario: str) -> float:
    by_policy = {row.policy: row for row in rows if row.scenario == scenario}
    static, learned = by_policy["static"], by_policy["learned"]
    return float(1 - learned.usd_per_successful_phase / static.usd_per_successful_phase)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    started = time.monotonic()
    rows = simulate(args.runs, args.warmup, args.seed)
    if args.json:
        print(json.dumps({"rows": [row.as_json() for row in rows]}, indent=2))
        return
    print(
        f"{'scenario':38} {'policy':11} {'phases':>6} {'success':>8} {'1st try':>8} "
        f"{'USD/success':>12}"
    )
    for row in rows:
        print(
            f"{row.scenario:38} {row.policy:11} {row.phases:>6} {row.success_rate:>8.1%} "
            f"{row.first_try / row.phases:>8.1%} "
            f"{'$' + str(row.usd_per_successful_phase):>12}"
        )
    for scenario in SUCCESS:
        print(
            f"{scenario}: learned vs static USD per successful phase {-saving(rows, scenario):+.0%}"
        )
        learned = next(r for r in rows if r.scenario == scenario and r.policy == "learned")
        print(f"  learned Builder routes away from the table: {learned.builder_routes or 'none'}")
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
