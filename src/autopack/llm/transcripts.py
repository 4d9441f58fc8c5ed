"""Each call's request and response, redacted, in `.autonomous_runs/<run_id>/transcripts/`."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse

from autopack.issues.atomic_json import write_json_atomic
from autopack.llm.redact import Redactor


class TranscriptWriter:
    def __init__(self, runs_dir: Path, run_id: str, redactor: Redactor):
        self.folder = runs_dir / run_id / "transcripts"
        self.redactor = redactor
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def write(
        self,
        alias: str,
        model: str,
        messages: list[ModelMessage],
        response: ModelResponse | None,
        error: str | None,
    ) -> Path:
        """The path written, relative to nothing: the ledger row links to it as is."""
        with self._lock:
            number = next(self._numbers)
        exchanged = [*messages, response] if response is not None else list(messages)
        payload = {
            "alias": alias,
            "model": model,
            "messages": json.loads(ModelMessagesTypeAdapter.dump_json(exchanged)),
            "error": error,
        }
        path = self.folder / f"{number:05d}-{alias}.json"
        write_json_atomic(path, self.redactor.data(payload))
        return path
