"""The app factory. ``create_app()`` builds the FastAPI app; its lifespan opens the database, loads the face
model and the vector index.

Nothing is built at import: serve with ``python -m service`` (or ``facegate serve``), or
``uvicorn --factory service.main:create_app``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from service.api.accesslog import install_access_log_redaction
from service.api.auth import AuthFirstMiddleware
from service.api.errors import install_error_handlers
from service.api.limits import MULTIPART_OVERHEAD_BYTES, BodySizeLimitMiddleware
from service.api.metrics import install_metrics
from service.api.openapi import FacegateAPI, operation_id
from service.api.ratelimit import RateLimiter
from service.api.routes import ROUTERS
from service.config import Settings, get_settings
from service.runtime import Runtime
from service.web import install_web

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database (migrating it unless told not to), load the model and the index (in a worker thread:
    it takes seconds) before serving; stop the index follower and close the database on shutdown."""
    settings: Settings = app.state.settings
    runtime = await run_in_threadpool(Runtime.open, settings)
    app.state.runtime = runtime
    app.state.sessionmaker = runtime.sessionmaker
    app.state.embedder = runtime.embedder
    try:
        yield
    finally:
        app.state.embedder = None
        app.state.runtime = None
        app.state.sessionmaker = None
        await run_in_threadpool(runtime.close)
        logger.info("runtime closed")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: :func:`get_settings`, from the environment).

    Sets the level of the ``service`` loggers; the database, model and index are opened later, by the lifespan.
    """
    settings = settings or get_settings()
    logging.getLogger("service").setLevel(settings.log_level)
    app = FacegateAPI(
        title="facegate",
        summary="Face-recognition access control.",
        version=_package_version(),
        lifespan=lifespan,
        # /docs is served from the app's own files by service.web.docs (FastAPI's default loads a CDN); no ReDoc.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.embedder = None
    app.state.runtime = None
    app.state.sessionmaker = None
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.auth_failure_limiter = RateLimiter(settings.auth_failures_per_minute, settings.auth_failures_burst)
    app.state.body_timeout_s = settings.body_timeout_s
    install_error_handlers(app)
    install_access_log_redaction()
    # Inside the metrics middleware (added after it): an error raised while the body is read must reach FastAPI's
    # body parsing directly; through the metrics middleware's task group it arrives wrapped and becomes a 400.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_upload_bytes * settings.max_images_per_request + MULTIPART_OVERHEAD_BYTES,
    )
    install_metrics(app)
    # Added last, so it runs first: the key is checked before the size limit lets any of the body through.
    app.add_middleware(AuthFirstMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    install_web(app)
    return app


def _package_version() -> str:
    try:
        return version("facegate")
    except PackageNotFoundError:
        return "0+unknown"
