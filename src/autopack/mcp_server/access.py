"""Who calls a tool, and what they may do: the REST API's rules (server/auth.py), unchanged.

Over stdio the caller is the local user, acting on their own project and every registered one,
as the CLI does. Over HTTP the caller is an API token (`autopack token create`) checked by the
SDK's bearer middleware through ApiTokens: any live token reads, a write token also acts, and a
token limited to some projects finds every other project's runs absent.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from starlette.concurrency import run_in_threadpool

from autopack.domain.vocabulary import TokenScope
from autopack.errors import AutopackError
from autopack.server.auth import may_write
from autopack.server.problems import Problem
from autopack.store.engine import Database
from autopack.store.schema import utc_now
from autopack.store.tokens import TokenInfo, verify_token

# What a client is told of each tool: reading ones change nothing, acting ones need a write token.
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ACTS = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

# The TokenInfo travels from the bearer middleware to the tools inside the SDK's AccessToken.
_INFO_CLAIM = "autopack_token"


@dataclass(frozen=True)
class Caller:
    """A tool call's caller: the token it is judged by, and the name actions are recorded with."""

    token: TokenInfo
    actor: str

    def may_act(self) -> None:
        may_write(self.token)


CallerOf = Callable[[], Caller]


def local_caller() -> Caller:
    """Over stdio: the user who started `autopack mcp`, as the CLI acts for them."""
    user = getpass.getuser()
    token = TokenInfo(
        token_id="local", name=user, scope=TokenScope.WRITE, created_at=utc_now(), projects=None
    )
    return Caller(token=token, actor=f"{user} over MCP")


def token_caller() -> Caller:
    """Over HTTP: the token the bearer middleware verified for this request."""
    access = get_access_token()
    claims = access.claims if access is not None else None
    if claims is None or _INFO_CLAIM not in claims:
        # The SDK refuses unauthenticated requests before any tool runs; this is a second lock.
        raise ToolError("a bearer token is required (autopack token create)")
    info = TokenInfo.model_validate(claims[_INFO_CLAIM])
    return Caller(token=info, actor=f"token {info.name}")


class ApiTokens:
    """The SDK's TokenVerifier over the API's own tokens (store/tokens.py)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def verify_token(self, token: str) -> AccessToken | None:
        info = await run_in_threadpool(verify_token, self._database, token)
        if info is None:
            return None
        scopes = ["read", "write"] if info.scope is TokenScope.WRITE else ["read"]
        return AccessToken(
            # Never the secret itself: AccessToken is kept for the session's life.
            token=f"apk_{info.token_id}",
            client_id=info.name,
            subject=info.token_id,
            scopes=scopes,
            claims={_INFO_CLAIM: info.model_dump(mode="json")},
        )


@contextmanager
def refusals(as_error: type[Exception] = ToolError) -> Iterator[None]:
    """Turn a refusal (a Problem, an Autopack error) into a tool (or resource) error with its one
    sentence, so the client reads why, never a traceback."""
    try:
        yield
    except Problem as problem:
        raise as_error(f"{problem.title}: {problem.detail}") from None
    except AutopackError as error:
        raise as_error(f"{type(error).__name__}: {error}") from None
