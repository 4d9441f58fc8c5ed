"""A scripted developer for the demo plan: what a model would answer, phase by phase, on the wire.

It stands in for a provider when the demo's cassette is recorded (no network here) and in tests:
for each Builder conversation it sends one edit, then finishes; for the Auditor it reports the
change clean. Served by the fake OpenAI server, so the real SDK and the real agent run against it.
"""

from __future__ import annotations

import re
from typing import Any

from autopack.testing.fake_llm import Reply, ToolCall

_OPS = {
    "1.1": ("subtract", "a - b", "subtract(5, 3)", "2"),
    "1.2": ("multiply", "a * b", "multiply(4, 3)", "12"),
}

_DIVIDE = """

def divide(a: float, b: float) -> float:
    if b == 0:
        raise ValueError("cannot divide by zero")
    return a / b
"""

_DIVIDE_TEST = """import unittest

from calc.ops import divide


class DivideTest(unittest.TestCase):
    def test_divide(self) -> None:
        self.assertEqual(divide(6, 3), 2)

    def test_zero_is_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "cannot divide by zero"):
            divide(1, 0)
"""

_README = """A tiny calculator.

| operation | example |
|---|---|
| add | `add(2, 3) == 5` |
| subtract | `subtract(5, 3) == 2` |
| multiply | `multiply(4, 3) == 12` |
| divide | `divide(6, 3) == 2`; `divide(1, 0)` raises ValueError |
"""


def _operation_edits(name: str, expression: str, example: str, result: str) -> list[dict[str, Any]]:
    test = (
        "import unittest\n\n"
        f"from calc.ops import {name}\n\n\n"
        f"class {name.title()}Test(unittest.TestCase):\n"
        f"    def test_{name}(self) -> None:\n"
        f"        self.assertEqual({example}, {result})\n"
    )
    return [
        {
            "op": "insert",
            "path": "calc/ops.py",
            "line": 5,
            "text": f"\n\ndef {name}(a: float, b: float) -> float:\n    return {expression}\n",
        },
        {"op": "create", "path": f"tests/test_{name}.py", "content": test},
    ]


def edits_for(phase_id: str) -> list[dict[str, Any]]:
    if phase_id in _OPS:
        return _operation_edits(*_OPS[phase_id])
    if phase_id == "2.1":
        return [
            {"op": "insert", "path": "calc/ops.py", "line": 5, "text": _DIVIDE},
            {"op": "create", "path": "tests/test_divide.py", "content": _DIVIDE_TEST},
        ]
    if phase_id == "2.2":
        return [
            {
                "op": "str_replace",
                "path": "README.md",
                "old": "A tiny calculator.\n",
                "new": _README,
            }
        ]
    return []


def _texts(request: dict[str, Any]) -> list[str]:
    texts = []
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [block.get("text", "") for block in content if isinstance(block, dict)]
    return texts


def _tool_names(request: dict[str, Any]) -> set[str]:
    names = set()
    for tool in request.get("tools", []):
        names.add(tool.get("function", {}).get("name") or tool.get("name", ""))
    return names


def _answered(request: dict[str, Any]) -> int:
    return sum(1 for message in request.get("messages", []) if message.get("role") == "tool")


def demo_reply(api: str, request: dict[str, Any]) -> Reply:
    """The answer to one request of the demo run (OpenAI wire format)."""
    if "report" in _tool_names(request):
        return Reply(
            tool_calls=(
                ToolCall(
                    name="report",
                    arguments={"summary": "The change does what the phase asks.", "findings": []},
                ),
            ),
            input_tokens=2400,
            output_tokens=60,
        )
    phase = next(
        (
            m.group(1)
            for text in _texts(request)
            if (m := re.search(r"^# Phase (\S+):", text, re.M))
        ),
        None,
    )
    if phase is None or _answered(request) >= 1:
        return Reply(
            tool_calls=(
                ToolCall(name="finish", arguments={"summary": f"Phase {phase} done as planned."}),
            ),
            input_tokens=3100,
            output_tokens=40,
        )
    return Reply(
        tool_calls=(ToolCall(name="edit", arguments={"edits": edits_for(phase)}),),
        input_tokens=2900,
        output_tokens=220,
    )
