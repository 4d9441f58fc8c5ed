"""Checkpointed model calls: a resumed attempt gets the answers it already paid for, in order.

A killed process loses the attempt in flight. Its worktree is rebuilt from the same commit and the
Builder runs again; every request it had already been answered is answered again from the store,
unbilled, so only the call that was in flight at the kill can be paid twice. Tools run again on
the rebuilt worktree, which puts it back in the state those answers expect.
"""

from __future__ import annotations

from pydantic import TypeAdapter
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from autopack.store.checkpoints import load_checkpoints, save_checkpoint
from autopack.store.engine import Database

_RESPONSE = TypeAdapter(ModelResponse)


class CheckpointedModel(WrapperModel):
    def __init__(self, wrapped: Model, *, database: Database, run_id: str, conversation: str):
        super().__init__(wrapped)
        self.database = database
        self.run_id = run_id
        self.conversation = conversation
        self._saved = load_checkpoints(database, run_id, conversation)
        self._sequence = 0
        self.replayed = 0

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        self._sequence += 1
        saved = self._saved.get(self._sequence)
        if saved is not None:
            self.replayed += 1
            return _RESPONSE.validate_json(saved)
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        save_checkpoint(
            self.database,
            self.run_id,
            self.conversation,
            self._sequence,
            _RESPONSE.dump_json(response).decode(),
        )
        return response
