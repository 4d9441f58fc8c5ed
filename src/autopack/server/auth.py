"""Bearer tokens on every endpoint but health: read tokens look, write tokens also act.

The dashboard sends the same token from an HttpOnly cookie it sets at sign-in, so pages work
without JavaScript; scripts send `Authorization: Bearer <token>`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from autopack.server.context import context_of
from autopack.server.problems import Problem
from autopack.store.tokens import Scope, TokenInfo, verify_token

COOKIE = "autopack_token"


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE)


async def caller(request: Request) -> TokenInfo:
    token = presented_token(request)
    if token is None:
        raise Problem(401, "Unauthorized", "a bearer token is required (autopack token create)")
    info = await run_in_threadpool(verify_token, context_of(request).database, token)
    if info is None:
        raise Problem(401, "Unauthorized", "the token is unknown or revoked")
    return info


async def reader(info: Annotated[TokenInfo, Depends(caller)]) -> TokenInfo:
    return info


async def writer(info: Annotated[TokenInfo, Depends(caller)]) -> TokenInfo:
    if info.scope is not Scope.WRITE:
        raise Problem(
            403, "Forbidden", f"token {info.name!r} may only read; this needs a write token"
        )
    return info


Reader = Annotated[TokenInfo, Depends(reader)]
Writer = Annotated[TokenInfo, Depends(writer)]
