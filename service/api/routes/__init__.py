"""The API's routers, one module per resource; :func:`service.main.create_app` mounts each of ``ROUTERS``."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from service.api.routes import faces, health

ROUTERS: Final[tuple[APIRouter, ...]] = (health.router, faces.router)
