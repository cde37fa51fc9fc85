"""Run the API with uvicorn in factory mode: the one place ``python -m service`` and ``facegate serve`` share."""

from __future__ import annotations

import logging

from service.config import Settings


def run_server(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Serve ``service.main:create_app`` until interrupted; host and port default to the settings'."""
    import uvicorn

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port if port is not None else settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )
