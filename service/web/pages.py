"""Rendering the browser pages: the Jinja2 environment (autoescaped), the page context every template gets, and
the answers to :class:`~service.web.security.SignInRequired` and :class:`~service.web.security.PageForbidden`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

from service.repositories.errors import StorageError
from service.runtime import Runtime
from service.web.security import PageForbidden, SignInRequired

WEB_DIR: Final = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=WEB_DIR / "templates")

NAV: Final = (
    ("people", "/console/people", "People"),
    ("doors", "/console/doors", "Doors"),
    ("groups", "/console/groups", "Groups"),
    ("rules", "/console/rules", "Rules"),
    ("log", "/console/log", "Access log"),
    ("keys", "/console/keys", "Keys"),
    ("webhooks", "/console/webhooks", "Webhooks"),
    ("status", "/console/status", "Status"),
)


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S %Z")


templates.env.filters["when"] = _when


def render(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    """``name`` rendered with ``context`` plus the signed-in user, the CSRF token, the navigation and the notice
    (``?done=``) of a redirect after a change."""
    user = getattr(request.state, "browser_session", None)
    base = {
        "user": user,
        "is_admin": user is not None and user.principal.role.value == "admin",
        "csrf": user.csrf_token if user is not None else "",
        "nav": NAV,
        "done": request.query_params.get("done", "")[:200],
    }
    return templates.TemplateResponse(request, name, base | context, status_code=status_code)


def done(path: str, message: str, **params: object) -> RedirectResponse:
    """Post/redirect/get: back to ``path`` with a notice."""
    query = urlencode({**{k: v for k, v in params.items() if v is not None}, "done": message})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def error_text(exc: StorageError) -> str:
    return f"{exc} ({exc.code})"


def install_page_errors(app: FastAPI) -> None:
    async def _sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(exc.where, status_code=303)

    async def _forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        return render(request, "forbidden.html", {"code": exc.code, "message": str(exc)}, status_code=403)

    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(PageForbidden, _forbidden)


def problem_text(exc: Exception) -> str:
    """What a form's failure says: a storage error with its code, or the fields a validation error names."""
    return error_text(exc) if isinstance(exc, StorageError) else validation_text(exc)


def validation_text(exc: Exception) -> str:
    """A pydantic error as ``field: what is wrong; ...`` (the input is not echoed)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts)


def form_text(form: Any, name: str, *, max_length: int = 500) -> str:
    """A text field of a submitted form, stripped ('' when absent, or not text); longer values are cut."""
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def runtime_of(request: Request) -> Runtime:
    """The running service; a 403 page ``not_ready`` while it starts."""
    runtime = cast(Runtime | None, getattr(request.app.state, "runtime", None))
    if runtime is None:
        raise PageForbidden("not_ready", "the service is still starting")
    return runtime


def form_ids(values: list[Any]) -> list[int]:
    """The ids among a form's repeated field: ASCII digits only (as the API's ``Digits``; ``"１"`` or ``"1_0"`` is
    not an id), at most 19 of them each."""
    return [int(v) for v in values if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 19]


def form_id(form: Any, name: str) -> int | None:
    """One optional id field of a form (``None`` when empty or not digits)."""
    found = form_ids([form.get(name)])
    return found[0] if found else None
