"""What keeps the browser pages safe: server-side sessions in an HttpOnly SameSite=Strict cookie, a CSRF token on
every state-changing request, roles (auditors see, admins change, terminals only use their door's kiosk), and
security headers (a Content-Security-Policy without inline script) on every page the app serves to a browser."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Final, cast

from fastapi import FastAPI, Request, Response
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db.models import KeyRole
from service.repositories.browser_sessions import BrowserSession, find_session

CONSOLE_COOKIE: Final = "fg_console"
KIOSK_COOKIE: Final = "fg_kiosk"
SIGNIN_CSRF_COOKIE: Final = "fg_signin_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"

# No inline script anywhere; styles from our own files; images may be data:/blob: (previews, kiosk snapshots);
# the camera stream is a blob/mediastream; nothing may frame the pages.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets style attributes from its script; its script is still our own file only.
DOCS_CSP: Final = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
_BROWSER_PREFIXES: Final = ("/console", "/kiosk", "/docs", "/static")


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in page."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class PageForbidden(Exception):
    """A signed-in browser asked for something its role or its CSRF token does not allow (403)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def install_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        path = request.url.path
        if path.startswith(_BROWSER_PREFIXES):
            response.headers["Content-Security-Policy"] = DOCS_CSP if path.startswith("/docs") else CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Referrer-Policy"] = "no-referrer"
            if not path.startswith("/static"):
                response.headers["Cache-Control"] = "no-store"
        return response


def secure_cookie(request: Request, settings: Settings) -> bool:
    """Whether cookies get ``Secure``: the setting, else whether this request came over https."""
    if settings.console_secure_cookie is not None:
        return settings.console_secure_cookie
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, *, name: str, token: str, path: str, max_age: int) -> None:
    settings = cast(Settings, request.app.state.settings)
    response.set_cookie(
        name,
        token,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request, settings),
    )


def _factory(request: Request) -> sessionmaker[Session]:
    factory = cast(sessionmaker[Session] | None, getattr(request.app.state, "sessionmaker", None))
    if factory is None:
        raise SignInRequired(request.url.path)
    return factory


def current_session(request: Request, cookie: str) -> BrowserSession | None:
    token = request.cookies.get(cookie)
    if not token:
        return None
    with _factory(request)() as session:
        return find_session(session, token=token)


def console_user(request: Request) -> BrowserSession:
    """The signed-in console user (admin or auditor); a redirect to sign-in otherwise."""
    found = current_session(request, CONSOLE_COOKIE)
    if found is None or found.principal.role not in (KeyRole.ADMIN, KeyRole.AUDITOR):
        raise SignInRequired("/console/signin")
    request.state.browser_session = found
    return found


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse (403 ``csrf_invalid``) a request whose form field or header does not carry ``expected``."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageForbidden("csrf_invalid", "the form's security token is missing or wrong: reload the page")


async def console_admin(request: Request) -> BrowserSession:
    """A console change: an admin's session, with the CSRF token (auditors see, admins change)."""
    user = console_user(request)
    await check_csrf(request, user.csrf_token)
    if user.principal.role is not KeyRole.ADMIN:
        raise PageForbidden("forbidden", "an auditor may look but not change anything")
    return user


def new_signin_csrf() -> str:
    return secrets.token_urlsafe(24)
