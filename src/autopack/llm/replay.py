"""Cassettes: record a live run's model answers, replay them later with no network.

A cassette is JSONL, one line per call: the request's fingerprint (model, messages and tools, with
timestamps and ids left out so the same conversation always has the same fingerprint), the
response, and its usage. Replaying a request the cassette does not hold fails with its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from autopack.errors import AutopackError

# Fields that differ between a live call and its replay without changing what was asked.
_VOLATILE = frozenset(
    {
        "model_id",
        "provider_name",
        "provider_url",
        "timestamp",
        "run_id",
        "conversation_id",
        "id",
        "tool_call_id",
        "provider_response_id",
        "provider_details",
        "metadata",
    }
)
_RESPONSE = TypeAdapter(ModelResponse)


class ReplayMiss(AutopackError):
    """The cassette has no answer for this request."""


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _stable(item) for key, item in sorted(value.items()) if key not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value


def fingerprint(
    model_name: str, messages: list[ModelMessage], parameters: ModelRequestParameters
) -> str:
    canonical = {
        "model": model_name,
        "messages": _stable(json.loads(ModelMessagesTypeAdapter.dump_json(messages))),
        "tools": sorted(
            (tool.name, json.dumps(tool.parameters_json_schema, sort_keys=True))
            for tool in parameters.function_tools
        ),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:32]


class RecordingModel(WrapperModel):
    """Passes every request through and appends its answer to the cassette."""

    def __init__(self, wrapped: Model, cassette: Path):
        super().__init__(wrapped)
        self.cassette = cassette
        self._lock = threading.Lock()

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        line = {
            "fingerprint": fingerprint(self.wrapped.model_name, messages, model_request_parameters),
            "model": self.wrapped.model_name,
            "response": json.loads(_RESPONSE.dump_json(response)),
        }
        with self._lock:
            self.cassette.parent.mkdir(parents=True, exist_ok=True)
            with self.cassette.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(line) + "\n")
        return response


class ReplayModel(Model):
    """Answers from a cassette only; the same request asked twice gets its recorded answers in order."""

    def __init__(self, cassette: Path, model_name: str):
        super().__init__()
        self.cassette = cassette
        self._name = model_name
        self._answers: dict[str, deque[ModelResponse]] = defaultdict(deque)
        try:
            lines = cassette.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise ReplayMiss(f"cassette {cassette} cannot be read: {error.strerror}") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self._answers[record["fingerprint"]].append(
                    _RESPONSE.validate_python(record["response"])
                )
            except (ValueError, KeyError) as error:
                raise ReplayMiss(f"{cassette}:{number}: not a cassette line ({error})") from None

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def system(self) -> str:
        return "replay"

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        key = fingerprint(self._name, messages, model_request_parameters)
        answers = self._answers.get(key)
        if not answers:
            raise ReplayMiss(f"request {key} for {self._name} is not in cassette {self.cassette}")
        return answers.popleft()
