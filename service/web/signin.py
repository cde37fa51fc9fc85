"""Console sign-in and sign-out: an admin or auditor API key is exchanged for a server-side session.

The sign-in form has its own CSRF protection before any session exists (a double-submit token: a random value
in a SameSite=Strict cookie and in the form), so another site cannot sign a browser in with the attacker's key.
"""

from __future__ import annotations

import hmac
from typing import Annotated, cast

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session, sessionmaker

from service.api.auth import MAX_TOKEN_LENGTH
from service.api.ratelimit import RateLimiter
from service.config import Settings
from service.db.models import KeyRole
from service.repositories.browser_sessions import close_session, open_session
from service.repositories.keys import Principal, authenticate
from service.web.pages import render
from service.web.security import (
    CONSOLE_COOKIE,
    SIGNIN_CSRF_COOKIE,
    PageForbidden,
    SignInRequired,
    check_csrf,
    console_user,
    new_signin_csrf,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)


def _factory(request: Request) -> sessionmaker[Session]:
    factory = cast(sessionmaker[Session] | None, getattr(request.app.state, "sessionmaker", None))
    if factory is None:
        raise PageForbidden("not_ready", "the service is still starting")
    return factory


def signin_form(request: Request, template: str, context: dict[str, object], *, status_code: int = 200) -> Response:
    """A sign-in page with a fresh double-submit CSRF token (cookie + hidden field)."""
    token = new_signin_csrf()
    response = render(request, template, context | {"signin_csrf": token}, status_code=status_code)
    set_session_cookie(response, request, name=SIGNIN_CSRF_COOKIE, token=token, path="/", max_age=3600)
    return response


def check_signin(request: Request, form_token: str, key: str, roles: tuple[KeyRole, ...]) -> Principal | None:
    """The principal of ``key`` if the sign-in form is genuine, the key valid and of one of ``roles``."""
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), form_token.encode()):
        raise PageForbidden("csrf_invalid", "the sign-in form's security token is missing or wrong: reload the page")
    key = key.strip()
    if not key or len(key) > MAX_TOKEN_LENGTH:
        return None
    with _factory(request)() as session:
        principal = authenticate(session, token=key)
    if principal is None:
        return None
    limiter = cast(RateLimiter, request.app.state.rate_limiter)
    if limiter.acquire(principal.key_id) > 0:
        return None
    return principal if principal.role in roles else None


@router.get("/console")
def console_home(request: Request) -> Response:
    try:
        console_user(request)
    except SignInRequired:
        return RedirectResponse("/console/signin", status_code=303)
    return RedirectResponse("/console/people", status_code=303)


@router.get("/console/signin")
def signin_page(request: Request) -> Response:
    return signin_form(request, "signin.html", {"error": None})


@router.post("/console/signin")
def signin(
    request: Request,
    key: Annotated[str, Form(max_length=MAX_TOKEN_LENGTH)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    principal = check_signin(request, csrf_token, key, (KeyRole.ADMIN, KeyRole.AUDITOR))
    if principal is None:
        error = "That key is not an active admin or auditor key."
        return signin_form(request, "signin.html", {"error": error}, status_code=401)
    settings = cast(Settings, request.app.state.settings)
    with _factory(request).begin() as session:
        token, _csrf = open_session(session, principal=principal, ttl_s=settings.console_session_ttl_s)
    response = RedirectResponse("/console/people", status_code=303)
    set_session_cookie(
        response, request, name=CONSOLE_COOKIE, token=token, path="/console", max_age=settings.console_session_ttl_s
    )
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/")
    return response


@router.post("/console/signout")
async def signout(request: Request) -> Response:
    user = console_user(request)
    await check_csrf(request, user.csrf_token)
    with _factory(request).begin() as session:
        close_session(session, token=request.cookies.get(CONSOLE_COOKIE, ""))
    response = RedirectResponse("/console/signin", status_code=303)
    response.delete_cookie(CONSOLE_COOKIE, path="/console")
    return response
