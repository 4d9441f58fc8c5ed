"""The ruleset's refusal of a stray high-risk table names every stray and every allowed category;
written for mutation testing (bench/mutation.py), which found the separators of the list untested."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from autopack.domain.vocabulary import HIGH_RISK_CATEGORIES
from autopack.strategy.ruleset import Ruleset


def test_stray_high_risk_categories_are_listed_with_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        Ruleset.model_validate({"high_risk": {"feature": {"max_builder_attempts": 1}, "docs": {}}})
    allowed = ", ".join(sorted(category.value for category in HIGH_RISK_CATEGORIES))
    assert f"not high-risk categories: docs, feature (allowed: {allowed})" in str(caught.value)
