"""API keys in SQL: create (the token is returned once, only its hash is kept), authenticate, list, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import ApiKey, ApiKeyDoor, Door, KeyRole
from service.db.types import utcnow
from service.domain.keys import generate_token, hash_token, token_matches, token_prefix
from service.repositories.errors import ConflictError, InvalidValueError, NotFoundError
from service.repositories.locks import take_write_lock


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an active key, its role and (for a terminal) the doors it may ask about."""

    key_id: int
    name: str
    prefix: str
    role: KeyRole
    door_ids: frozenset[int]

    def may_use_door(self, door_id: int) -> bool:
        """Admins may ask about any door; terminals only about their own."""
        return self.role is KeyRole.ADMIN or door_id in self.door_ids


def create_key(
    session: Session, *, name: str, role: KeyRole, door_ids: Sequence[int] = (), token: str | None = None
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its token (shown once: only the hash is kept).

    A terminal key must name at least one door; other roles none. ``token`` stores an operator-given secret
    instead of a generated one (checked by the caller with :func:`service.domain.keys.check_operator_secret`).
    """
    if role is KeyRole.TERMINAL and not door_ids:
        raise InvalidValueError("terminal_needs_doors", "a terminal key must be bound to at least one door")
    if role is not KeyRole.TERMINAL and door_ids:
        raise InvalidValueError("doors_only_for_terminals", "only terminal keys are bound to doors")
    unique_doors = sorted(set(door_ids))
    found = set(session.scalars(select(Door.id).where(Door.id.in_(unique_doors))))
    missing = [door_id for door_id in unique_doors if door_id not in found]
    if missing:
        raise NotFoundError("door", missing[0])
    token = token or generate_token()
    prefix = token_prefix(token)
    if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is not None:
        raise ConflictError("key_exists", "a key with this prefix exists already")
    key = ApiKey(name=name, prefix=prefix, secret_hash=hash_token(token), role=role)
    session.add(key)
    session.flush()
    session.add_all(ApiKeyDoor(key_id=key.id, door_id=door_id) for door_id in unique_doors)
    session.flush()
    return key, token


def authenticate(session: Session, *, token: str) -> Principal | None:
    """The principal of an active key whose token this is, else ``None`` (unknown, wrong or revoked)."""
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == token_prefix(token)))
    # Hash and compare even for an unknown prefix, so timing does not tell which prefixes exist.
    matches = token_matches(token, key.secret_hash if key is not None else "0" * 64)
    if key is None or not matches or key.revoked_at is not None:
        return None
    return Principal(
        key_id=key.id,
        name=key.name,
        prefix=key.prefix,
        role=key.role,
        door_ids=frozenset(key_door_ids(session, key_id=key.id)),
    )


def key_door_ids(session: Session, *, key_id: int) -> list[int]:
    return list(
        session.scalars(select(ApiKeyDoor.door_id).where(ApiKeyDoor.key_id == key_id).order_by(ApiKeyDoor.door_id))
    )


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(statement))


def get_key(session: Session, *, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFoundError("key", key_id)
    return key


def revoke_key(session: Session, *, key_id: int, caller_key_id: int | None = None) -> ApiKey:
    """Mark the key revoked (kept for the log's references); revoking twice is a no-op.

    Refuses to revoke the caller's own key (rotate: create the new key, then revoke the old one with it) and the
    last active admin key (nobody could administer the system any more). That rule holds under concurrent
    revocations (two admins revoking each other at the same moment): see :func:`_lock_admin_keys`; call it in a
    fresh transaction.
    """
    _lock_admin_keys(session)
    key = get_key(session, key_id=key_id)
    if key.revoked_at is None and key_id == caller_key_id:
        raise ConflictError("key_in_use", "a key cannot revoke itself; revoke it with another admin key")
    if key.revoked_at is None and key.role is KeyRole.ADMIN:
        others = (
            select(ApiKey.id)
            .where(ApiKey.role == KeyRole.ADMIN, ApiKey.revoked_at.is_(None), ApiKey.id != key_id)
            .limit(1)
        )
        if session.scalar(others) is None:
            raise ConflictError("last_admin_key", "this is the last active admin key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


def _lock_admin_keys(session: Session) -> None:
    """Serialise the changes that could leave no active admin key, until this transaction ends.

    PostgreSQL: ``SELECT … FOR UPDATE`` on the active admin keys; a concurrent revocation waits here, then sees
    the first one's result (READ COMMITTED re-reads the rows it waited for). SQLite: a write that changes
    nothing takes the database's write lock now (it has one writer at a time), before anything is read, so the
    check below reads what the previous writer committed. Without this both revocations saw "another admin
    exists" and both committed (found by an attack on a running instance).
    """
    if session.get_bind().dialect.name == "sqlite":
        take_write_lock(session)
        return
    active_admins = select(ApiKey.id).where(ApiKey.role == KeyRole.ADMIN, ApiKey.revoked_at.is_(None))
    session.execute(active_admins.with_for_update())


def has_active_admin(session: Session) -> bool:
    statement = select(ApiKey.id).where(ApiKey.role == KeyRole.ADMIN, ApiKey.revoked_at.is_(None)).limit(1)
    return session.scalar(statement) is not None


def ensure_operator_key(session: Session, *, token: str, name: str = "operator admin key") -> bool:
    """Store the operator-given admin ``token`` unless a key with its prefix exists; True if it was added.

    A revoked operator key stays revoked: rotating it means giving a new secret.
    """
    if session.scalar(select(ApiKey.id).where(ApiKey.prefix == token_prefix(token))) is not None:
        return False
    create_key(session, name=name, role=KeyRole.ADMIN, token=token)
    return True
