"""Typed dependencies of the routes. Each reads what ``create_app`` and its lifespan put on ``app.state``;
tests replace any of them with ``app.dependency_overrides[get_x] = ...``."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from models.embedder import FaceEmbedder
from service.api.errors import NotReadyError
from service.config import Settings


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
