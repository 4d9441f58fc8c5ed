"""Bearer tokens on every endpoint but health: read tokens look, write tokens also act.

The dashboard sends the same token from an HttpOnly cookie it sets at sign-in, so pages work
without JavaScript; scripts send `Authorization: Bearer <token>`. The cookie opens reads only:
every endpoint that acts wants the header, so no other site can act through a signed-in browser.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from autopack.domain.vocabulary import TokenScope
from autopack.server.context import context_of
from autopack.server.problems import Problem
from autopack.store.tokens import TokenInfo, verify_token

COOKIE = "autopack_token"


def presented_token(request: Request, *, cookie: bool) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) if cookie else None


async def identify(request: Request, *, cookie: bool) -> TokenInfo | None:
    token = presented_token(request, cookie=cookie)
    if token is None:
        return None
    return await run_in_threadpool(verify_token, context_of(request).database, token)


async def _caller(request: Request, *, cookie: bool) -> TokenInfo:
    if presented_token(request, cookie=cookie) is None:
        raise Problem(401, "Unauthorized", "a bearer token is required (autopack token create)")
    info = await identify(request, cookie=cookie)
    if info is None:
        raise Problem(401, "Unauthorized", "the token is unknown or revoked")
    return info


async def reader(request: Request) -> TokenInfo:
    return await _caller(request, cookie=True)


async def writer(request: Request) -> TokenInfo:
    # Never from the cookie: a page on another site could otherwise make the browser act.
    info = await _caller(request, cookie=False)
    if info.scope is not TokenScope.WRITE:
        raise Problem(
            403, "Forbidden", f"token {info.name!r} may only read; this needs a write token"
        )
    return info


Reader = Annotated[TokenInfo, Depends(reader)]
Writer = Annotated[TokenInfo, Depends(writer)]
