"""Mutation score of the governance core (mutmut): mutants, killed, survived and score per module.

Each module is mutated in its own scratch copy of the checkout (src/, tests/, docs/, pyproject.toml
with a [tool.mutmut] section appended), so runs never touch the working tree, and a module's mutants
are only tested against the tests that exercise it: mutmut's clean run and coverage pass then stay
short. Survivors recorded as equivalent (no observable behaviour change) in docs/governance.md ("Mutation testing")
are listed in EQUIVALENT below; any other survivor is printed, since it needs a test, and makes the
script exit with status 1.

The score is killed / mutants. A timed-out mutant counts as killed (the mutation made the tests
hang, which a run would notice); a mutant no selected test reaches ("no tests") counts as missed.
"after equivalents" leaves the recorded equivalent mutants out of the count.

Not in CI: all modules take 20 to 30 minutes on one core.

Run: .venv/bin/python bench/mutation.py [--max-children N] [--module NAME ...] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# mutmut is run from the same environment as this script (the project's venv).
MUTMUT = Path(sys.executable).parent / "mutmut"


@dataclass(frozen=True)
class Module:
    name: str
    sources: tuple[str, ...]
    # Only the tests that exercise the module: the whole suite would take hours per module.
    tests: tuple[str, ...]


MODULES: tuple[Module, ...] = (
    # The write rules, done first (531 mutants, all killed).
    Module(
        "apply/policy",
        ("src/autopack/apply/policy.py", "src/autopack/apply/paths.py"),
        ("tests/apply/",),
    ),
    Module("audit/policy", ("src/autopack/audit/policy.py",), ("tests/audit/",)),
    Module(
        "llm/budget",
        ("src/autopack/llm/budget.py",),
        ("tests/llm/test_llm_budget.py", "tests/llm/test_budget_mutants.py"),
    ),
    Module(
        "builder/allowance",
        ("src/autopack/builder/allowance.py",),
        ("tests/builder/test_allowance.py",),
    ),
    Module(
        "store/remote_offers",
        ("src/autopack/store/remote_offers.py",),
        ("tests/store/test_remote_offers.py",),
    ),
    Module(
        "issues/promotion",
        ("src/autopack/issues/promotion.py",),
        (
            "tests/issues/test_issues_backlog_and_promotion.py",
            "tests/issues/test_promotion_mutants.py",
        ),
    ),
    Module(
        "issues/backlog_aging",
        ("src/autopack/issues/backlog_aging.py",),
        (
            "tests/issues/test_issues_backlog_and_promotion.py",
            "tests/issues/test_backlog_aging_mutants.py",
        ),
    ),
    Module(
        "issues/settle",
        ("src/autopack/issues/settle.py",),
        ("tests/issues/test_settle_mutants.py",),
    ),
    Module(
        "strategy/debt",
        ("src/autopack/strategy/debt.py",),
        ("tests/strategy/",),
    ),
    Module(
        "strategy/classify",
        ("src/autopack/strategy/classify.py",),
        ("tests/strategy/",),
    ),
    Module(
        "strategy/ruleset",
        ("src/autopack/strategy/ruleset.py",),
        ("tests/strategy/", "tests/config/test_config_settings.py"),
    ),
    Module(
        "strategy/routing",
        ("src/autopack/strategy/routing.py",),
        ("tests/strategy/",),
    ),
    Module("strategy/engine", ("src/autopack/strategy/engine.py",), ("tests/strategy/",)),
    Module(
        "strategy/learned_routing",
        ("src/autopack/strategy/learned_routing.py",),
        ("tests/strategy/test_learned_routing.py",),
    ),
    Module(
        "llm/aliases",
        ("src/autopack/llm/aliases.py",),
        ("tests/llm/test_llm_pricing.py", "tests/llm/test_aliases_mutants.py", "tests/strategy/"),
    ),
    # The verification ladder's rules that need no run: what weakens tests, what acceptance asks.
    Module(
        "verify/test_guard",
        ("src/autopack/verify/test_guard.py",),
        ("tests/verify/test_ladder_parts.py",),
    ),
    Module(
        "verify/acceptance",
        ("src/autopack/verify/acceptance.py", "src/autopack/verify/launchers.py"),
        ("tests/verify/test_ladder_parts.py",),
    ),
)

# Survivors with no observable behaviour change; the reasons are in docs/governance.md ("Mutation testing").
EQUIVALENT: dict[str, str] = {
    "autopack.llm.budget.xǁBudgetLedgerǁremaining__mutmut_25": 'Decimal("1E18") == Decimal("1e18")',
    "autopack.strategy.classify.x__mentions__mutmut_13": "no rule word holds a dot",
    "autopack.issues.promotion.x_promotion_eligibility__mutmut_14": "neither starts with budget",
    "autopack.strategy.engine.x__tier_strategy__mutmut_32": "int 0 + Decimals is the same sum",
    "autopack.llm.aliases.xǁModelAliasǁcost_usd__mutmut_2": "validator: paid has both prices",
    "autopack.llm.aliases.x_default_aliases__mutmut_130": "8_192 is the field's default",
    "autopack.issues.backlog_aging.x__aged__mutmut_75": "issue_state defaults to OPEN",
    "autopack.issues.backlog_aging.x_write_backlog_file__mutmut_5": "python-mode dump, same JSON",
    "autopack.issues.backlog_aging.x_write_backlog_file__mutmut_11": "python-mode dump, same JSON",
    "autopack.issues.backlog_aging.x_write_backlog_file__mutmut_12": "python-mode dump, same JSON",
    "autopack.verify.test_guard.x__skips__mutmut_2": "only compared: counting 2 each scales both",
    "autopack.verify.test_guard.x__assertions__mutmut_2": "only compared: both counts start at 1",
    "autopack.verify.test_guard.x__assertions__mutmut_10": "neither '' nor 'XXXX' starts with assert",
    "autopack.verify.acceptance.x__is_command__mutmut_15": "rsplit's last part is the same",
    "autopack.verify.acceptance.x__is_command__mutmut_18": "rsplit's last part is the same",
    "autopack.verify.launchers.x__launcher__mutmut_9": "rsplit's last part is the same",
    "autopack.verify.launchers.x__launcher__mutmut_12": "rsplit's last part is the same",
    "autopack.strategy.learned_routing.x__route_role__mutmut_20": "high_risk None is falsy too",
}


@dataclass(frozen=True)
class Figures:
    module: str
    mutants: int
    killed: int
    survived: int
    no_tests: int
    seconds: float
    survivors: tuple[str, ...]

    @property
    def score(self) -> float:
        return self.killed / self.mutants if self.mutants else 0.0

    @property
    def equivalent(self) -> int:
        return sum(1 for name in self.survivors if name in EQUIVALENT)

    @property
    def score_after_equivalents(self) -> float:
        counted = self.mutants - self.equivalent
        return self.killed / counted if counted else 0.0


def scratch_copy(module: Module, work: Path) -> Path:
    """A fresh copy of the checkout with the module's [tool.mutmut] section."""
    folder = work / module.name.replace("/", "-")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
    shutil.copytree(ROOT / "src", folder / "src", ignore=ignore)
    shutil.copytree(ROOT / "tests", folder / "tests", ignore=ignore)
    # Some tests hold the code to its documentation (the shipped model aliases in docs/llm.md).
    shutil.copytree(ROOT / "docs", folder / "docs", ignore=ignore)
    tests = [path for path in module.tests if (ROOT / path).exists()]
    section = (
        "\n[tool.mutmut]\n"
        f"source_paths = {json.dumps(list(module.sources))}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        # The unmutated rest of the package must be importable from mutants/src.
        'also_copy = ["tests/", "src/", "docs/"]\n'
    )
    (folder / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + section)
    return folder


def run_module(module: Module, work: Path, max_children: int) -> Figures:
    folder = scratch_copy(module, work)
    start = time.monotonic()
    # mutmut draws a progress spinner on stdout: kept in a log, not printed.
    with (folder / "mutmut.log").open("w") as log:
        subprocess.run(
            [str(MUTMUT), "run", "--max-children", str(max_children)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    seconds = time.monotonic() - start
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=folder, check=True, capture_output=True)
    stats = json.loads((folder / "mutants" / "mutmut-cicd-stats.json").read_text())
    listing = subprocess.run(
        [str(MUTMUT), "results"], cwd=folder, check=True, capture_output=True, text=True
    ).stdout
    survivors = tuple(
        line.split(":")[0].strip()
        for line in listing.splitlines()
        if line.endswith((": survived", ": no tests"))
    )
    return Figures(
        module=module.name,
        mutants=stats["total"],
        killed=stats["killed"] + stats["timeout"],
        survived=stats["survived"] + stats["suspicious"],
        no_tests=stats["no_tests"],
        seconds=seconds,
        survivors=survivors,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-children", type=int, default=1, help="parallel mutmut workers (default 1)"
    )
    parser.add_argument(
        "--module",
        action="append",
        choices=[module.name for module in MODULES],
        help="only this module (repeatable); default all",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/autopack-mutation"))
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()
    chosen = [module for module in MODULES if not args.module or module.name in args.module]
    rows = [run_module(module, args.work, args.max_children) for module in chosen]
    unexplained = [name for row in rows for name in row.survivors if name not in EQUIVALENT]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "module": row.module,
                        "mutants": row.mutants,
                        "killed": row.killed,
                        "survived": row.survived,
                        "no_tests": row.no_tests,
                        "equivalent": row.equivalent,
                        "score": round(row.score, 4),
                        "score_after_equivalents": round(row.score_after_equivalents, 4),
                        "seconds": round(row.seconds, 1),
                        "survivors": list(row.survivors),
                    }
                    for row in rows
                ],
                indent=2,
            )
        )
    else:
        print(
            f"{'module':<22}{'mutants':>8}{'killed':>8}{'survived':>9}{'no tests':>9}"
            f"{'equiv.':>7}{'score':>8}{'after eq.':>10}{'s':>6}"
        )
        for row in rows:
            print(
                f"{row.module:<22}{row.mutants:>8}{row.killed:>8}{row.survived:>9}{row.no_tests:>9}"
                f"{row.equivalent:>7}{row.score:>8.1%}{row.score_after_equivalents:>10.1%}"
                f"{row.seconds:>6.0f}"
            )
        for row in rows:
            for name in row.survivors:
                reason = EQUIVALENT.get(name)
                print(
                    f"{name}: " + (f"equivalent ({reason})" if reason else "SURVIVED, needs a test")
                )
    sys.exit(1 if unexplained else 0)


if __name__ == "__main__":
    main()
