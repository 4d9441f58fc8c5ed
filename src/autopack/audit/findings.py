"""What an Auditor reports: findings with a stable key, a severity, evidence and a failure scenario."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from autopack.domain.issues import clean_key


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issue_key: str = Field(
        description="Stable key, e.g. 'security:sql-injection:app/db.py'. Reuse the key of an open "
        "issue when this is the same problem."
    )
    severity: Literal["minor", "major"]
    category: str = Field(min_length=1, description="e.g. correctness, security, schema, tests")
    confidence: int = Field(ge=0, le=100, description="How sure you are this is real, 0-100.")
    file: str | None = None
    line: int | None = Field(default=None, ge=1)
    evidence: str = Field(min_length=1, description="The code or output that shows the problem.")
    failure_scenario: str = Field(
        min_length=1, description="A concrete input or sequence of events that goes wrong."
    )
    suggested_fix: str = ""
    suggested_patch: str | None = Field(
        default=None,
        description="Optional: a unified diff or SEARCH/REPLACE blocks that fix it.",
    )

    @field_validator("issue_key")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_key(value)


class AuditReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="One or two sentences on the change as a whole.")
    findings: list[Finding] = Field(default_factory=list)
