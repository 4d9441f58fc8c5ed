"""API bearer tokens: `apk_<token id>_<secret>`, of which only the secret's SHA-256 is stored.

The token id finds the row; the secret's hash is compared in constant time. A token is shown once,
when it is created, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autopack.domain.vocabulary import TokenScope
from autopack.errors import ConfigError
from autopack.store.engine import Database
from autopack.store.schema import ApiTokenProjectRow, ApiTokenRow, ProjectRow, utc_now

PREFIX = "apk"
USE_RESOLUTION = timedelta(minutes=1)


class TokenInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    token_id: str
    name: str
    scope: TokenScope
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    # The projects the token may see and act on; None: every project.
    projects: tuple[str, ...] | None = None

    def sees(self, project_id: str) -> bool:
        return self.projects is None or project_id in self.projects


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(session: Session, row: ApiTokenRow) -> TokenInfo:
    projects = tuple(
        session.scalars(
            select(ApiTokenProjectRow.project_id)
            .where(ApiTokenProjectRow.token_id == row.token_id)
            .order_by(ApiTokenProjectRow.project_id)
        )
    )
    return TokenInfo(
        token_id=row.token_id,
        name=row.name,
        scope=TokenScope(row.scope),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        projects=projects or None,
    )


def create_token(
    database: Database, name: str, scope: TokenScope, projects: Sequence[str] = ()
) -> tuple[str, TokenInfo]:
    """The new token (to show once) and what is stored about it. With `projects`, the token sees
    and acts on those projects only; each must exist."""
    if not name.strip() or len(name) > 100:
        raise ConfigError("a token name must be 1-100 characters")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    try:
        with database.transaction() as session:
            row = ApiTokenRow(
                token_id=token_id,
                name=name,
                scope=scope.value,
                secret_sha256=_digest(secret),
                created_at=utc_now(),
            )
            session.add(row)
            session.flush()
            for project_id in sorted(set(projects)):
                if session.get(ProjectRow, project_id) is None:
                    raise ConfigError(
                        f"no project {project_id!r} to limit the token to "
                        "(`autopack project add PATH` registers one; `autopack project list`)"
                    )
                session.add(ApiTokenProjectRow(token_id=token_id, project_id=project_id))
            session.flush()
            info = _info(session, row)
    except IntegrityError:
        raise ConfigError(
            f"a token named {name!r} exists already; revoke it or pick another name"
        ) from None
    return f"{PREFIX}_{token_id}_{secret}", info


def verify_token(database: Database, presented: str) -> TokenInfo | None:
    """The live token `presented` names, or None; never says which part was wrong."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    token_id, secret = parts[1], parts[2]
    # Checked in a read transaction: every API request passes here, and on SQLite a write
    # transaction would make it wait for any worker writing.
    with database.reading() as session:
        row = session.get(ApiTokenRow, token_id)
        if row is None or row.revoked_at is not None:
            # Still hash, so a wrong id costs the same as a wrong secret.
            hmac.compare_digest(_digest(secret), _digest(""))
            return None
        if not hmac.compare_digest(_digest(secret), row.secret_sha256):
            return None
        info = _info(session, row)
    now = utc_now()
    last = info.last_used_at
    # Recorded to the minute, so a write transaction is needed about once a minute per token.
    if (
        last is None
        or now - (last if last.tzinfo else last.replace(tzinfo=now.tzinfo)) > USE_RESOLUTION
    ):
        with database.transaction() as session:
            session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.token_id == token_id, ApiTokenRow.revoked_at.is_(None))
                .values(last_used_at=now)
            )
        info = info.model_copy(update={"last_used_at": now})
    return info


def list_tokens(database: Database) -> list[TokenInfo]:
    with database.reading() as session:
        return [
            _info(session, row)
            for row in session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.name))
        ]


def revoke_token(database: Database, name: str) -> TokenInfo:
    with database.transaction() as session:
        row = session.scalars(select(ApiTokenRow).where(ApiTokenRow.name == name)).first()
        if row is None:
            raise ConfigError(f"no token named {name!r} (see `autopack token list`)")
        if row.revoked_at is None:
            row.revoked_at = utc_now()
        return _info(session, row)
