"""A routing level that names no alias is found before a run starts; written for mutation testing
(bench/mutation.py), which found only fallbacks checked."""

from __future__ import annotations

from autopack.llm.aliases import default_aliases
from autopack.strategy.routing import Routing


def test_a_routing_level_naming_no_alias_is_reported() -> None:
    assert Routing(top="ghost").unknown_aliases(default_aliases()) == ["ghost"]
    assert Routing().unknown_aliases(default_aliases()) == []
