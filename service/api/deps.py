"""Typed dependencies of the routes. Each reads what ``create_app`` and its lifespan put on ``app.state``;
tests replace any of them with ``app.dependency_overrides[get_x] = ...``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from models.embedder import FaceEmbedder
from service.api.errors import NotReadyError
from service.api.metrics import ServiceMetrics
from service.config import Settings
from service.runtime import Runtime


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return cast(Settings, request.app.state.settings)


def get_optional_embedder(request: Request) -> FaceEmbedder | None:
    """The loaded embedder, or ``None`` before the lifespan has loaded it (or after shutdown)."""
    return cast(FaceEmbedder | None, getattr(request.app.state, "embedder", None))


OptionalEmbedderDep = Annotated[FaceEmbedder | None, Depends(get_optional_embedder)]


def get_embedder(embedder: OptionalEmbedderDep) -> FaceEmbedder:
    """The loaded embedder; 503 ``not_ready`` when there is none yet."""
    if embedder is None:
        raise NotReadyError("the face model is not loaded yet")
    return embedder


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EmbedderDep = Annotated[FaceEmbedder, Depends(get_embedder)]


def get_runtime(request: Request) -> Runtime:
    """The running database + model + index; 503 ``not_ready`` before the lifespan has opened it."""
    runtime = cast(Runtime | None, getattr(request.app.state, "runtime", None))
    if runtime is None:
        raise NotReadyError("the service is still starting")
    return runtime


def get_session(request: Request) -> Iterator[Session]:
    """A session from ``app.state.sessionmaker`` for one request, closed afterwards (what was not committed is
    rolled back). The route commits what it means to keep."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        yield session


def get_metrics(request: Request) -> ServiceMetrics:
    return cast(ServiceMetrics, request.app.state.metrics)


MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
SessionDep = Annotated[Session, Depends(get_session)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
