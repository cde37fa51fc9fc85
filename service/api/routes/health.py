"""Probes for orchestrators: liveness (the process answers) and readiness (the model is loaded)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import OptionalEmbedderDep
from service.api.errors import NotReadyError, problem_responses
from service.api.schemas import Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Liveness:
    """Always 200 while the process runs; says nothing about the model."""
    return Liveness()


@router.get("/readyz", summary="Readiness: the model is loaded", responses=problem_responses(503))
async def readyz(embedder: OptionalEmbedderDep) -> Readiness:
    """200 with the model's id once the embedder is loaded, 503 ``not_ready`` before."""
    if embedder is None:
        raise NotReadyError("the face model is not loaded yet")
    return Readiness(model_id=embedder.model_id, model_trained=embedder.package.trained)
