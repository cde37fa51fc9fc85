"""Server-side sessions of the web console and the door kiosk: a browser exchanges an API key for a random
session token (in an HttpOnly cookie); only the token's hash is stored, with the key it stands for, a CSRF token
and an expiry. The key's role and doors are read on every request, so revoking the key ends its sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.db.models import ApiKey, ConsoleSession
from service.db.types import utcnow
from service.repositories.keys import Principal, key_door_ids


@dataclass(frozen=True)
class BrowserSession:
    """A live session: who it is (the key's current principal) and the token every form must carry back."""

    principal: Principal
    csrf_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(session: Session, *, principal: Principal, ttl_s: int) -> tuple[str, str]:
    """Store a new session for ``principal``; returns (cookie token, CSRF token). Expired sessions are purged."""
    now = utcnow()
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=_hash(token),
            key_id=principal.key_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    session.flush()
    return token, csrf


def find_session(session: Session, *, token: str) -> BrowserSession | None:
    """The live session of ``token``: unexpired, and its key not revoked; else ``None``."""
    if not token or len(token) > 128:
        return None
    row = session.get(ConsoleSession, _hash(token))
    if row is None or row.expires_at <= utcnow():
        return None
    key = session.get(ApiKey, row.key_id)
    if key is None or key.revoked_at is not None:
        return None
    principal = Principal(
        key_id=key.id,
        name=key.name,
        prefix=key.prefix,
        role=key.role,
        door_ids=frozenset(key_door_ids(session, key_id=key.id)),
    )
    return BrowserSession(principal=principal, csrf_token=row.csrf_token)


def close_session(session: Session, *, token: str) -> None:
    """Sign out: the session row is deleted (the cookie alone is worth nothing afterwards)."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))


def count_sessions(session: Session, *, key_id: int) -> int:
    return len(list(session.scalars(select(ConsoleSession.token_hash).where(ConsoleSession.key_id == key_id))))
