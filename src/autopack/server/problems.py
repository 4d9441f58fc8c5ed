"""Every error the API returns is an RFC 9457 problem document, never a bare 500 page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from autopack.errors import (
    AutopackError,
    ConfigError,
    NotFound,
    PatchFormatError,
    PlanError,
    PolicyViolation,
    StoreError,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://autopack.dev/problems/"


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any):
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        super().__init__(detail)


def problem_response(
    status: int, title: str, detail: str, instance: str | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        **({"instance": instance} if instance else {}),
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Invalid input",
    503: "Unavailable",
}


def _status_of(error: AutopackError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, PlanError | ConfigError | PatchFormatError | PolicyViolation):
        return 422
    if isinstance(error, StoreError):
        return 503
    return 409  # the request was valid but the run's or repository's state refuses it


def _field(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(
            error.status, error.title, error.detail, request.url.path, **error.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(item.get("loc", ())), "message": str(item.get("msg", "invalid"))}
            for item in error.errors()
        ]
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        return problem_response(
            422,
            "Invalid input",
            f"{first['field']}: {first['message']}",
            request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        title = _TITLES.get(error.status_code, "Error")
        return problem_response(error.status_code, title, str(error.detail), request.url.path)

    @app.exception_handler(AutopackError)
    async def _autopack(request: Request, error: AutopackError) -> JSONResponse:
        status = _status_of(error)
        return problem_response(status, _TITLES[status], str(error), request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem_response(
            500,
            "Internal error",
            f"{type(error).__name__}: the server could not answer; see its log",
            request.url.path,
        )
