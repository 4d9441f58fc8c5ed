"""Human tables for strategies and backlogs; JSON for scripts comes from the same typed values.

Plan titles, issue keys, test ids and commands are shown as written: every cell and title is a
rich Text, never a string Rich would read as markup (`[/]` would crash, `list[int]` lose `[int]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from autopack.domain.vocabulary import Role

if TYPE_CHECKING:
    from autopack.domain.issues import BacklogEntry
    from autopack.domain.strategy import Budget, PhaseStrategy, Strategy, TierStrategy
    from autopack.llm.catalog import AliasView
    from autopack.store.model_figures import ModelFigures
    from autopack.verify.verifier import VerifyResult


def compact_tokens(tokens: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if tokens >= size:
            return f"{tokens / size:.2f}".rstrip("0").rstrip(".") + suffix
    return str(tokens)


def budget_text(budget: Budget) -> str:
    return f"{compact_tokens(budget.tokens)} tok / ${budget.usd.quantize(Decimal('0.01'))}"


def _add_row(table: Table, *cells: str | Text) -> None:
    table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in cells))


def _tier_table(tier: TierStrategy) -> Table:
    table = Table(
        title=Text(
            f"Tier {tier.tier_id}: {tier.name}  —  budget {budget_text(tier.budget)}, "
            f"CI runs ≤ {tier.ci_run_cap}, minors ≤ {tier.minor_issues_tolerated}, "
            f"majors ≤ {tier.major_issues_tolerated}"
        ),
        title_justify="left",
        show_lines=True,
    )
    for column in (
        "#",
        "Phase",
        "Category (why)",
        "Complexity\nmode",
        "Budget",
        "Tries\nB/A",
        "CI\nauditor",
        "Models\nB/A/P",
    ):
        table.add_column(column, overflow="fold")
    for phase in tier.phases:
        category = Text(phase.task_category.value, style="bold red" if phase.high_risk else "bold")
        category.append(f"\n{phase.category_reason}", style="dim")
        if phase.inserted_reason:
            category.append(f"\ninserted: {phase.inserted_reason}", style="yellow")
        budget = budget_text(phase.budget)
        if phase.incident_budget != phase.budget:
            budget += f"\nincident {budget_text(phase.incident_budget)}"
        _add_row(
            table,
            str(phase.position),
            f"{phase.phase_id} {phase.title}",
            category,
            f"{phase.complexity.value}\n{phase.builder_mode.value}",
            budget,
            f"{phase.max_builder_attempts}/{phase.max_auditor_attempts}",
            f"{phase.ci_profile.value}\n{phase.auditor_profile.value}",
            "\n".join(_routed(phase, role) for role in _ROLES_SHOWN),
        )
    return table


_ROLES_SHOWN = (Role.BUILDER, Role.AUDITOR, Role.PLANNER)


def _routed(phase: PhaseStrategy, role: Role) -> str:
    route = phase.routes.get(role)
    return phase.models[role] if route is None else f"{route.alias} ({route.policy})"


def routing_lines(tier: TierStrategy) -> Text:
    """Which policy chose each phase's models and why: `autopack plan` prints it under the tier."""
    text = Text(style="dim")
    for phase in tier.phases:
        for role in _ROLES_SHOWN:
            route = phase.routes.get(role)
            if route is not None:
                line = (
                    f"{phase.phase_id} {role.value} {route.alias}: {route.policy}, {route.reason}"
                )
                text.append(("\n" if text.plain else "") + line)
    return text


def strategy_view(strategy: Strategy, part: int, parts: int) -> Group:
    limits = strategy.limits
    header = Text(
        f"Run {part} of {parts}: {strategy.plan_title or strategy.plan_source or 'plan'}",
        style="bold",
    )
    header.append(
        f"\n{len(strategy.phases)} phases · safety {strategy.safety_profile.value} · scope {strategy.run_scope.value} · "
        f"budget {budget_text(limits.budget)} · ≤ {limits.max_duration_minutes} min · "
        f"minor issues ≤ {limits.max_minor_issues_total}",
    )
    models = ", ".join(f"{alias} = {target}" for alias, target in strategy.model_aliases.items())
    header.append(f"\nmodels: {models}", style="dim")
    stack = strategy.stack_profile or "unknown"
    header.append(f"\nstack: {stack} ({strategy.stack_reason})", style="dim")
    for decision in strategy.reuse_decisions:
        header.append(f"\nreuse {decision.phase_id}: {decision.reason}", style="dim")
    shown: list[Table | Text] = [header]
    for tier in strategy.tiers:
        shown += [_tier_table(tier), routing_lines(tier)]
    return Group(*shown)


def print_strategies(console: Console, strategies: Sequence[Strategy]) -> None:
    for index, strategy in enumerate(strategies, start=1):
        console.print(strategy_view(strategy, index, len(strategies)))
        console.print()


def backlog_table(entries: Sequence[BacklogEntry], project_id: str) -> Table:
    table = Table(title=Text(f"Issue backlog of {project_id}"), title_justify="left")
    for column in (
        "Issue key",
        "Severity",
        "Effective",
        "Age runs",
        "Age tiers",
        "Seen",
        "State",
        "Last run",
    ):
        table.add_column(column, overflow="fold")
    for entry in entries:
        aged = entry.effective_severity != entry.severity
        _add_row(
            table,
            entry.issue_key,
            entry.severity.value,
            Text(entry.effective_severity.value, style="bold red" if aged else ""),
            str(entry.age_in_runs),
            str(entry.age_in_tiers),
            str(entry.occurrence_count),
            entry.issue_state.value,
            entry.last_seen_run,
        )
    return table


def print_verify_result(console: Console, result: VerifyResult) -> None:
    table = Table(
        title=f"CI gate ({result.sandbox} sandbox, {len(result.runs)} run(s))", title_justify="left"
    )
    for column in ("Command", "Result", "Tests", "Seconds"):
        table.add_column(column)
    for outcome in result.final:
        failed = sum(1 for t in outcome.tests if t.status.value in ("failed", "error"))
        tests = (
            f"{len(outcome.tests) - failed}/{len(outcome.tests)} passed" if outcome.tests else "-"
        )
        verdict = (
            Text("passed", style="green")
            if outcome.passed
            else Text("timed out" if outcome.timed_out else "failed", style="red")
        )
        _add_row(
            table, f"{outcome.name}: {outcome.command}", verdict, tests, f"{outcome.seconds:.2f}"
        )
    console.print(table)
    for title, keys in (
        ("Failures", result.failures),
        ("Flaky (minor)", result.flaky),
        ("Pre-existing", result.pre_existing),
    ):
        if keys:
            console.print(Text(f"{title}: " + ", ".join(keys)))
    console.print(
        Text("gate passed", style="bold green")
        if result.passed
        else Text("gate failed", style="bold red")
    )


def _price(value: Decimal | None) -> str:
    return "-" if value is None else f"${value}"


def models_table(views: Sequence[AliasView]) -> Table:
    table = Table(title="Model aliases (USD per million tokens)", title_justify="left")
    for column in (
        "Alias",
        "Resolves to",
        "Input",
        "Cached",
        "Output",
        "Key",
        "Fallbacks",
        "Routing level",
    ):
        table.add_column(column, overflow="fold")
    for view in views:
        target = f"{view.provider}:{view.model}" + (f"\n{view.base_url}" if view.base_url else "")
        if view.api_key_env is None:
            key = Text("not needed", style="dim")
        else:
            key = Text(
                f"{view.api_key_env}: {'yes' if view.key_present else 'no'}",
                style="green" if view.key_present else "red",
            )
        prices = (
            ("free", "free", "free")
            if view.free
            else tuple(
                _price(p)
                for p in (
                    view.price_input_per_mtok,
                    view.price_cached_input_per_mtok,
                    view.price_output_per_mtok,
                )
            )
        )
        _add_row(
            table,
            view.alias,
            target,
            *prices,
            key,
            ", ".join(view.fallbacks),
            ", ".join(view.levels),
        )
    return table


def model_figures_table(figures: Sequence[ModelFigures], project_id: str) -> Table:
    table = Table(
        title=Text(f"Builder record per model alias in {project_id} (ended phases)"),
        title_justify="left",
    )
    for column in (
        "Alias",
        "Category",
        "Complexity",
        "Phases",
        "Attempts",
        "Succeeded",
        "Success rate",
        "USD",
        "USD / success",
        "Tokens / success",
    ):
        table.add_column(column, overflow="fold")
    for row in figures:
        usd_per_success = row.usd_per_success
        tokens_per_success = row.tokens_per_success
        _add_row(
            table,
            row.alias,
            row.task_category,
            row.complexity,
            str(row.phases),
            str(row.attempts),
            str(row.successes),
            f"{row.success_rate:.0%}",
            f"${row.usd.quantize(Decimal('0.0001'))}",
            "-" if usd_per_success is None else f"${usd_per_success.quantize(Decimal('0.0001'))}",
            "-" if tokens_per_success is None else compact_tokens(tokens_per_success),
        )
    return table
