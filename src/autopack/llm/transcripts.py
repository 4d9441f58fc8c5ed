"""Each call's request and response, redacted, in `.autonomous_runs/<run_id>/transcripts/`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse

from autopack.issues.atomic_json import write_json_atomic
from autopack.llm.redact import Redactor

_RESERVING = threading.Lock()
_NUMBERED = "[0-9][0-9][0-9][0-9][0-9]-*.json"


class TranscriptWriter:
    def __init__(self, runs_dir: Path, run_id: str, redactor: Redactor):
        self.folder = runs_dir / run_id / "transcripts"
        self.redactor = redactor

    def write(
        self,
        alias: str,
        model: str,
        messages: list[ModelMessage],
        response: ModelResponse | None,
        error: str | None,
    ) -> Path:
        """The path written, relative to nothing: the ledger row links to it as is."""
        exchanged = [*messages, response] if response is not None else list(messages)
        payload = {
            "alias": alias,
            "model": model,
            "messages": json.loads(ModelMessagesTypeAdapter.dump_json(exchanged)),
            "error": error,
        }
        path = self._reserve(alias)
        write_json_atomic(path, self.redactor.data(payload))
        return path

    def _reserve(self, alias: str) -> Path:
        """The next free number in the folder: many writers (one per phase attempt, and each
        process that resumes the run) share it, and none may overwrite another's transcript."""
        with _RESERVING:
            self.folder.mkdir(parents=True, exist_ok=True)
            while True:
                taken = (int(p.name[:5]) for p in self.folder.glob(_NUMBERED))
                path = self.folder / f"{max(taken, default=0) + 1:05d}-{alias}.json"
                try:
                    path.touch(exist_ok=False)
                except FileExistsError:  # another process took it between glob and touch
                    continue
                return path
