"""StrategyEngine: ruleset, plan and backlog compiled into a frozen per-run strategy."""
