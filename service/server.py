"""Run the API with uvicorn in factory mode: the one place ``python -m service`` and ``facegate serve`` share
(through :func:`service.startup.serve`, which prepares the database first)."""

from __future__ import annotations

import logging

from service.config import Settings


def configure_logging(settings: Settings) -> None:
    """Log at ``settings.log_level`` to stderr (the command line may have set a quieter level already)."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(settings.log_level)
    # One line per Alembic plugin at every start says nothing an operator needs; its migration steps stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, logging.getLogger().level))


def run_server(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Serve ``service.main:create_app`` until interrupted; host and port default to the settings'."""
    import uvicorn

    configure_logging(settings)
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port if port is not None else settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )
