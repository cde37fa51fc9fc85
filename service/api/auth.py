"""Who may call what: every endpoint but health takes an API key (``Authorization: Bearer <token>``).

Roles: ``admin`` (everything), ``terminal`` (access checks, at its own doors), ``auditor`` (reads the log).
Each authenticated request also takes a token from its key's rate-limit bucket; each failed authentication takes
one from its client address's bucket, and an address whose bucket is empty is refused (429) before its key is
even looked at. A request with a body is authenticated by :class:`AuthFirstMiddleware` before a byte of the body
is read.
Typed aliases for routes: :data:`AdminKey`, :data:`TerminalKey`, :data:`AuditorKey`, :data:`AnyKey`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.errors import (
    DATABASE_UNAVAILABLE,
    ApiError,
    AuthInvalidError,
    AuthRequiredError,
    ForbiddenError,
    NotReadyError,
    RateLimitedError,
    exception_to_problem,
    problem_response,
)
from service.api.ratelimit import RateLimiter
from service.db.models import KeyRole
from service.repositories.keys import Principal, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fg_…`.")
MAX_TOKEN_LENGTH = 512
API_PREFIX = "/v1/"


def check_key(state: Any, token: str | None, address: str) -> Principal:
    """The principal of ``token`` sent from ``address``: 401 without a key or with a wrong one, 429 when the
    address has failed too often lately (checked first, so a guessing client costs no database work)."""
    failures = cast(RateLimiter, state.auth_failure_limiter)
    wait_s = failures.wait_time(address)
    if wait_s > 0:
        raise RateLimitedError(wait_s)
    if not token:
        raise AuthRequiredError("send an API key: Authorization: Bearer <key>")
    principal = None
    if len(token) <= MAX_TOKEN_LENGTH:
        factory = cast(sessionmaker[Session] | None, getattr(state, "sessionmaker", None))
        if factory is None:
            raise NotReadyError("the service is still starting")
        with factory() as session:
            principal = authenticate(session, token=token)
    if principal is None:
        failures.acquire(address)
        raise AuthInvalidError()
    return principal


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (behind a proxy: what uvicorn's --proxy-headers made of it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _bearer_token(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The calling key, authenticated and within its rate limit (401 / 429 otherwise)."""
    principal = cast(Principal | None, getattr(request.state, "principal", None))  # AuthFirstMiddleware's
    if principal is None:
        token = credentials.credentials if credentials is not None else None
        principal = check_key(request.app.state, token, client_address(request.scope))
    limiter = cast(RateLimiter, request.app.state.rate_limiter)
    wait_s = limiter.acquire(principal.key_id)
    if wait_s > 0:
        raise RateLimitedError(wait_s)
    request.state.principal = principal
    return principal


class AuthFirstMiddleware:
    """Authenticate a request that carries a body before any of the body is read (401 / 429 / 503 answered at
    once); the principal is handed on in ``request.state`` so it is looked up once. Bodiless requests are left to
    :func:`get_principal`: they cost nothing to refuse there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The bearer-key API lives under /v1; the console and kiosk pages sign in with their own sessions.
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        has_body = "transfer-encoding" in headers or (declared is not None and declared.strip() not in ("", "0"))
        if has_body:
            try:
                principal = await run_in_threadpool(
                    check_key, scope["app"].state, _bearer_token(headers), client_address(scope)
                )
            except ApiError as exc:
                response = problem_response(
                    Request(scope), exc.status_code, exc.code, title=exc.title, detail=exc.detail, headers=exc.headers
                )
                await response(scope, receive, send)
                return
            except DATABASE_UNAVAILABLE as exc:  # outside the exception handlers here: answer as they would
                await (await exception_to_problem(Request(scope), exc))(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


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
