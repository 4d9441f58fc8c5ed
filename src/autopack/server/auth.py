"""Bearer tokens on every endpoint but health: read tokens look, write tokens also act.

A token may be limited to some projects: another project's runs, events and reports are absent to
it (404, and listings leave them out), starting a run there is forbidden (403), and it can neither
register projects nor read the server-wide /metrics.

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
    may_write(info)
    return info


def may_write(info: TokenInfo) -> None:
    """Refuse (403) an action to a token that may only read."""
    if info.scope is not TokenScope.WRITE:
        raise Problem(
            403, "Forbidden", f"token {info.name!r} may only read; this needs a write token"
        )


async def registrar(request: Request) -> TokenInfo:
    # Registering a repository lets workers run model-written code in it: a token limited to some
    # projects must not widen its own reach.
    info = await writer(request)
    if info.projects is not None:
        raise Problem(
            403,
            "Forbidden",
            f"token {info.name!r} is limited to projects {', '.join(info.projects)}; "
            "registering a project needs a write token limited to none",
        )
    return info


async def server_wide(request: Request) -> TokenInfo:
    info = await reader(request)
    if info.projects is not None:
        raise Problem(
            403, "Forbidden", f"token {info.name!r} is limited to projects; this covers them all"
        )
    return info


def may_act_on(caller: TokenInfo, project_id: str) -> None:
    """Refuse (403) an action on a project the caller's token is not limited to."""
    if not caller.sees(project_id):
        raise Problem(
            403,
            "Forbidden",
            f"token {caller.name!r} is limited to projects {', '.join(caller.projects or ())}",
        )


Reader = Annotated[TokenInfo, Depends(reader)]
Writer = Annotated[TokenInfo, Depends(writer)]
Registrar = Annotated[TokenInfo, Depends(registrar)]
ServerWide = Annotated[TokenInfo, Depends(server_wide)]
