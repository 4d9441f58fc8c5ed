"""The Sandbox seam and the typed results every verifier stage passes along."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


def minimal_env() -> dict[str, str]:
    """What commands in the sandbox see: no API keys or other secrets of the parent process."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(_Value):
    wall_seconds: float = Field(default=600, gt=0)
    cpu_seconds: int = Field(default=900, gt=0)
    memory_bytes: int = Field(default=4 * 1024**3, gt=0)
    file_size_bytes: int = Field(default=512 * 1024**2, gt=0)
    output_bytes: int = Field(default=200_000, gt=0)


class CommandResult(_Value):
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False


class Sandbox(Protocol):
    name: str

    def reading(self, paths: Sequence[Path]) -> Sandbox:
        """The same sandbox, with these host paths also readable (a project's environment)."""
        ...

    def run(
        self,
        command: str,
        *,
        cwd: Path,
        writable: Sequence[Path],
        limits: Limits,
        env: Mapping[str, str],
    ) -> CommandResult: ...


class TestStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class TestOutcome(_Value):
    test_id: str
    status: TestStatus
    message: str = ""
    output: str = ""
    seconds: float = 0.0
