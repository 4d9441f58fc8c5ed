"""JSON files written so a crash leaves the old file or the new one, never half; read back validated."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from autopack.errors import IssueFileError

ModelT = TypeVar("ModelT", bound=BaseModel)


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2, sort_keys=False)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json_model(path: Path, model: type[ModelT], what: str) -> ModelT:
    """Parse and validate a JSON file; any problem is an IssueFileError naming the path and the field."""
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise IssueFileError(f"{path}: no such {what}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(file)"
        raise IssueFileError(f"{path}: not a valid {what}: {where}: {first['msg']}") from None
