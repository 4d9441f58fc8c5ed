"""The repo map on small real trees: tags per language, ranking toward the task, budget, cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autopack.builder.repomap import RepoMap
from autopack.builder.repomap.rank import rank_tags, words_of
from autopack.builder.repomap.tags import Tag, TagKind, ctags_available, tree_sitter_tags
from autopack.llm.tokens import count_tokens
from autopack.testing.git_repos import git


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


SHOP = {
    "shop/cart.py": (
        "from shop.pricing import apply_discount\n\n"
        "class ShoppingCart:\n"
        "    def total(self):\n"
        "        return apply_discount(sum(self.items))\n"
    ),
    "shop/pricing.py": (
        "def apply_discount(amount):\n    return amount * 0.9\n\n"
        "def currency_format(amount):\n    return f'{amount:.2f}'\n"
    ),
    "shop/report.py": (
        "from shop.pricing import currency_format\n\n"
        "def monthly_report(rows):\n    return [currency_format(r) for r in rows]\n"
    ),
    "web/app.ts": (
        "import { ShoppingCart } from './cart';\n"
        "export class CheckoutPage {\n  render(cart: ShoppingCart): string { return '' }\n}\n"
    ),
    "svc/main.go": (
        "package svc\n\ntype OrderQueue struct{}\n\n"
        "func (q OrderQueue) Push() { NotifyWarehouse() }\n\nfunc NotifyWarehouse() {}\n"
    ),
}


def _names(tags: list[Tag] | None, kind: TagKind) -> set[str]:
    assert tags is not None
    return {tag.name for tag in tags if tag.kind is kind}


def test_each_supported_language_yields_definitions_and_references() -> None:
    python = tree_sitter_tags("shop/cart.py", SHOP["shop/cart.py"].encode())
    assert _names(python, TagKind.DEFINITION) == {"ShoppingCart", "total"}
    assert {"apply_discount", "items"} <= _names(python, TagKind.REFERENCE)
    typescript = tree_sitter_tags("web/app.ts", SHOP["web/app.ts"].encode())
    assert {"CheckoutPage", "render"} <= _names(typescript, TagKind.DEFINITION)
    assert "ShoppingCart" in _names(typescript, TagKind.REFERENCE)
    go = tree_sitter_tags("svc/main.go", SHOP["svc/main.go"].encode())
    assert {"OrderQueue", "Push", "NotifyWarehouse"} <= _names(go, TagKind.DEFINITION)
    assert "NotifyWarehouse" in _names(go, TagKind.REFERENCE)
    javascript = tree_sitter_tags("a.js", b"function go() { stop() }\nclass Car { drive() {} }\n")
    assert _names(javascript, TagKind.DEFINITION) == {"go", "Car", "drive"}
    assert tree_sitter_tags("notes.cobol", b"anything") is None


def test_lines_of_tags_are_one_based() -> None:
    tags = tree_sitter_tags("shop/pricing.py", SHOP["shop/pricing.py"].encode())
    assert tags is not None
    assert {(tag.name, tag.line) for tag in tags} == {("apply_discount", 1), ("currency_format", 4)}


def test_words_of_splits_snake_and_camel_case() -> None:
    assert {"shoppingcart", "shopping", "cart", "apply_discount", "apply", "discount"} <= words_of(
        "ShoppingCart apply_discount"
    )


def test_ranking_follows_the_task_and_the_reference_graph(git_repo: Path) -> None:
    _write(git_repo, SHOP)
    repo_map = RepoMap(git_repo)
    discount = repo_map.rank("The discount is applied twice to the cart total")
    assert discount.files[0] in {"shop/cart.py", "shop/pricing.py"}
    assert set(discount.files[:2]) == {"shop/cart.py", "shop/pricing.py"}
    warehouse = repo_map.rank("Warehouse is not notified when an order is pushed")
    assert warehouse.files[0] == "svc/main.go"
    report = repo_map.rank("monthly report shows raw numbers, format them as currency")
    assert report.files[0] in {"shop/report.py", "shop/pricing.py"}
    assert "currency_format" in report.text


def test_focus_paths_pull_their_files_up(git_repo: Path) -> None:
    _write(git_repo, SHOP)
    ranked = RepoMap(git_repo).rank("tidy up", focus_paths=["web/"])
    assert ranked.files[0] == "web/app.ts"


def test_the_map_fits_the_token_budget_and_shows_real_lines(git_repo: Path) -> None:
    _write(git_repo, SHOP)
    repo_map = RepoMap(git_repo)
    roomy = repo_map.rank("discount", token_budget=4000)
    assert "shop/pricing.py:" in roomy.text
    assert "    1│def apply_discount(amount):" in roomy.text
    tight = repo_map.rank("discount", token_budget=25)
    assert 0 < tight.tokens <= 25
    assert tight.tokens == count_tokens(tight.text)
    assert len(tight.text) < len(roomy.text)


def test_tags_are_cached_by_mtime_and_refreshed_on_change(git_repo: Path) -> None:
    _write(git_repo, SHOP)
    repo_map = RepoMap(git_repo)
    repo_map.rank("cart")
    first = repo_map.parsed_files
    repo_map.rank("cart")
    assert repo_map.parsed_files == first
    pricing = git_repo / "shop/pricing.py"
    pricing.write_text(pricing.read_text() + "\ndef loyalty_points(amount):\n    return 1\n")
    stat = pricing.stat()
    os.utime(pricing, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    ranked = repo_map.rank("loyalty points")
    assert repo_map.parsed_files == first + 1
    assert ranked.files[0] == "shop/pricing.py"
    (git_repo / "shop/report.py").unlink()
    assert "shop/report.py" not in repo_map.rank("report").files


def test_ignored_files_stay_out_of_the_map(git_repo: Path) -> None:
    _write(git_repo, {**SHOP, ".gitignore": "build/\n", "build/generated.py": "def made(): pass\n"})
    git(git_repo, "add", "-A")
    assert not any(path.startswith("build/") for path in RepoMap(git_repo).rank("made").files)


def test_ctags_covers_languages_without_a_grammar(git_repo: Path) -> None:
    if not ctags_available():
        if os.environ.get("AUTOPACK_REQUIRE_CTAGS") == "1":
            pytest.fail("universal-ctags is required here (AUTOPACK_REQUIRE_CTAGS=1)")
        pytest.skip("universal-ctags is not installed (.ci/run installs it)")
    _write(git_repo, {"lib/strings.rb": "class Slugger\n  def slugify(text)\n  end\nend\n"})
    ranked = RepoMap(git_repo).rank("slugify titles")
    assert ranked.files == ("lib/strings.rb",)
    assert "slugify" in ranked.text


def test_private_and_widely_defined_names_weigh_less() -> None:
    def tags(path: str, defs: list[str], refs: list[str]) -> list[Tag]:
        return [Tag(path, name, TagKind.DEFINITION, 1, "function") for name in defs] + [
            Tag(path, name, TagKind.REFERENCE, 2, "call") for name in refs
        ]

    ranking = rank_tags(
        {
            "user.py": tags("user.py", [], ["_helper", "compute_totals"]),
            "private.py": tags("private.py", ["_helper"], []),
            "public.py": tags("public.py", ["compute_totals"], []),
        },
        query="",
    )
    order = [path for path, _ in ranking.files]
    assert order.index("public.py") < order.index("private.py")
