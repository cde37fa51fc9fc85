"""The app factory. ``create_app()`` builds the FastAPI app; its lifespan loads the face model.

Nothing is built at import: serve with ``python -m service`` or
``uvicorn --factory service.main:create_app``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from service.api.errors import install_error_handlers
from service.api.limits import MULTIPART_OVERHEAD_BYTES, BodySizeLimitMiddleware
from service.api.openapi import FacegateAPI
from service.api.routes import ROUTERS
from service.config import Settings, get_settings
from service.faces import load_embedder

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the embedder (in a worker thread: it takes seconds) before serving; drop it on shutdown."""
    settings: Settings = app.state.settings
    app.state.embedder = await run_in_threadpool(load_embedder, settings)
    try:
        yield
    finally:
        app.state.embedder = None
        logger.info("model unloaded")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: :func:`get_settings`, from the environment).

    Sets the level of the ``service`` loggers; the model is loaded later, by the lifespan.
    """
    settings = settings or get_settings()
    logging.getLogger("service").setLevel(settings.log_level)
    app = FacegateAPI(
        title="facegate",
        summary="Face-recognition access control.",
        version=_package_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.embedder = None
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _package_version() -> str:
    try:
        return version("facegate")
    except PackageNotFoundError:
        return "0+unknown"
