"""The browser side of the app: the operator's console (``/console``), the door kiosk (``/kiosk/{door}``),
Swagger UI for ``/docs`` and the static files they load, all served by the app itself (no CDN).

A package of its own rather than more modules in ``service/api/routes``: these routes answer HTML and take
cookies and forms, while the API's routes answer JSON and take bearer keys; their templates and static files
live next to them. Both call the same use cases (:mod:`service.core`, :mod:`service.repositories`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.web import console_admin, console_people, console_rights, docs, kiosk, signin
from service.web.pages import WEB_DIR, install_page_errors
from service.web.security import install_security_headers


def install_web(app: FastAPI) -> None:
    """Mount the static files and the page routers, and answer page errors with pages."""
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    install_security_headers(app)
    install_page_errors(app)
    for module in (signin, console_people, console_rights, console_admin, kiosk, docs):
        app.include_router(module.router)
