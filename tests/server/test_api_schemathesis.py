"""Schemathesis over the served OpenAPI schema: valid and invalid inputs, never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis

# Loaded now, while collecting, not lazily inside the test: there pytest's assertion rewriting
# compiles it deep in the stack, where CPython 3.11.7's compile() can fail with "AST constructor
# recursion depth mismatch" (seen twice in CI, in from_url's own lazy import of this module).
import schemathesis.specs.openapi.schemas
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis.generation import GenerationMode

from autopack.testing.api_server import Api

# The all-runs stream never ends by design; the per-run stream is exercised (unknown ids end it).
ENDLESS = {"/events"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_makes_the_api_answer_5xx(idle_api: Api, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{idle_api.base_url}/openapi.json")
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path not in ENDLESS
    ]
    assert len(operations) >= 20
    headers = {"Authorization": f"Bearer {idle_api.write_token}"}
    failures: list[str] = []

    exercised = 0
    for operation in operations:

        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case: Case) -> None:
            response = case.call(base_url=idle_api.base_url, headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

        try:
            exercise()
            exercised += 1
        except Unsatisfiable:  # an operation with nothing to get wrong (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE
    assert exercised >= 15
    assert failures == []
