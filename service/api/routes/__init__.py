"""The API's routers, one module per resource; :func:`service.main.create_app` mounts each of ``ROUTERS``."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from service.api.routes import (
    access,
    doors,
    faces,
    groups,
    health,
    keys,
    log,
    metrics,
    people,
    recognition,
    rules,
    webhooks,
)

ROUTERS: Final[tuple[APIRouter, ...]] = (
    health.router,
    metrics.router,
    faces.router,
    people.router,
    access.router,
    log.router,
    recognition.router,
    keys.router,
    doors.router,
    groups.router,
    rules.router,
    webhooks.router,
)
