"""Who may call what: every endpoint but health takes an API key (``Authorization: Bearer <token>``).

Roles: ``admin`` (everything), ``terminal`` (access checks, at its own doors), ``auditor`` (reads the log).
Each authenticated request also takes a token from its key's rate-limit bucket.
Typed aliases for routes: :data:`AdminKey`, :data:`TerminalKey`, :data:`AuditorKey`, :data:`AnyKey`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from service.api.errors import AuthInvalidError, AuthRequiredError, ForbiddenError, NotReadyError, RateLimitedError
from service.api.ratelimit import RateLimiter
from service.db.models import KeyRole
from service.repositories.keys import Principal, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fg_…`.")
MAX_TOKEN_LENGTH = 512


def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The calling key, authenticated and within its rate limit (401 / 429 otherwise)."""
    if credentials is None or not credentials.credentials:
        raise AuthRequiredError("send an API key: Authorization: Bearer <key>")
    token = credentials.credentials
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthInvalidError()
    factory = cast(sessionmaker[Session] | None, getattr(request.app.state, "sessionmaker", None))
    if factory is None:
        raise NotReadyError("the service is still starting")
    with factory() as session:
        principal = authenticate(session, token=token)
    if principal is None:
        raise AuthInvalidError()
    limiter = cast(RateLimiter, request.app.state.rate_limiter)
    wait_s = limiter.acquire(principal.key_id)
    if wait_s > 0:
        raise RateLimitedError(wait_s)
    request.state.principal = principal
    return principal


def require_roles(*roles: KeyRole) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` (and always admin) through; 403 ``forbidden`` for the others."""
    allowed = frozenset((*roles, KeyRole.ADMIN))

    def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in allowed:
            raise ForbiddenError(f"a {principal.role.value} key may not do this")
        return principal

    return dependency


AnyKey = Annotated[Principal, Depends(get_principal)]
AdminKey = Annotated[Principal, Depends(require_roles(KeyRole.ADMIN))]
TerminalKey = Annotated[Principal, Depends(require_roles(KeyRole.TERMINAL))]
AuditorKey = Annotated[Principal, Depends(require_roles(KeyRole.AUDITOR))]
