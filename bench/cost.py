"""USD per phase and per successful phase: what prompt caching, context elision and learned
routing save (issue 17's figures), from the two benchmarks it runs in turn.

1. bench/cost_caching.py: fixed Builder conversations of 30 to 60 steps taken from real history,
   replayed on the real model stack through the fake Anthropic and OpenAI servers, which bill
   caching as the providers do: no caching and no elision (today's behaviour before issue 17),
   caching only, and caching with the Builder's own elision (builder/context.py, default rules).
2. bench/cost_routing.py: always-top, the static table and policy learned over a synthetic
   history whose success probabilities it states, through compile_strategy and a real store.

Run: PYTHONPATH=src .venv/bin/python bench/cost.py [--cases 6] [--routing-runs 5] [--json]
(about 15 minutes on the 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import cost_caching
import cost_routing

from autopack.builder.context import elider

CONFIGS = [
    cost_caching.Config("no caching, no elision", caching=False),
    cost_caching.Config("caching only", caching=True),
    cost_caching.Config("caching and elision", caching=True, history=elider()),
]
GOAL_CACHING = 0.60
GOAL_ROUTING = 0.30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--mirrors", type=Path, default=cost_caching.MIRRORS)
    parser.add_argument("--routing-runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    case_list = cost_caching.cases(args.mirrors, args.cases)
    with tempfile.TemporaryDirectory() as folder:
        phases = cost_caching.run_configs(case_list, CONFIGS, Path(folder))
    routing = cost_routing.simulate(runs=args.routing_runs)
    savings = {
        alias: _saving(phases, alias, CONFIGS[0].name, CONFIGS[-1].name)
        for alias in cost_caching.ALIASES
    }
    learned = {
        scenario: cost_routing.saving(routing, scenario) for scenario in cost_routing.SUCCESS
    }
    if args.json:
        print(
            json.dumps(
                {
                    "phases": [row.__dict__ for row in phases],
                    "caching_and_elision_saving": savings,
                    "routing": [row.as_json() for row in routing],
                    "learned_saving": learned,
                },
                default=str,
                indent=1,
            )
        )
        return
    print(f"Builder phases: {len(case_list)} conversations of real history, per alias\n")
    print("\n".join(cost_caching.summary(phases, CONFIGS)))
    for alias, saved in savings.items():
        verdict = "met" if saved >= GOAL_CACHING else "not met"
        print(
            f"{alias}: caching and elision {saved:.0%} below today's USD per phase "
            f"(goal {GOAL_CACHING:.0%}: {verdict})"
        )
    print("\nRouting over a synthetic history (USD per successful phase)\n")
    for row in routing:
        print(
            f"{row.scenario:38} {row.policy:11} success {row.success_rate:>6.1%} "
            f"${row.usd_per_successful_phase}"
        )
    for scenario, saved in learned.items():
        verdict = "met" if saved >= GOAL_ROUTING else "not met"
        print(
            f"{scenario}: learned {saved:.0%} below the static table (goal {GOAL_ROUTING:.0%}: "
            f"{verdict})"
        )


def _saving(rows: list[cost_caching.PhaseCost], alias: str, before: str, after: str) -> float:
    def usd(config: str) -> Decimal:
        mine = [r for r in rows if r.alias == alias and r.config == config]
        return sum((r.usd for r in mine), Decimal(0)) / len(mine)

    return float(1 - usd(after) / usd(before))


if __name__ == "__main__":
    main()
