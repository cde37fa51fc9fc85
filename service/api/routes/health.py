"""Probes for orchestrators: liveness (the process answers) and readiness (model, index and database ready)."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api.errors import NotReadyError, problem_responses
from service.runtime import Runtime
from service.schemas import Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Liveness:
    """Always 200 while the process runs; says nothing about the model."""
    return Liveness()


@router.get("/readyz", summary="Readiness: model, index and database", responses=problem_responses(503))
def readyz(request: Request) -> Readiness:
    """200 once the model is loaded, the index built and the database answers; 503 ``not_ready`` otherwise."""
    runtime = cast(Runtime | None, getattr(request.app.state, "runtime", None))
    if runtime is None:
        raise NotReadyError("the model and index are not loaded yet")
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise NotReadyError("the database does not answer") from exc
    in_force = runtime.threshold_in_force()
    return Readiness(
        model_id=runtime.embedder.model_id,
        model_trained=runtime.embedder.package.trained,
        index_templates=runtime.index.size,
        index_revision=runtime.index.revision,
        threshold=in_force.threshold,
        threshold_gallery_size=in_force.gallery_size,
        threshold_basis=in_force.basis,
        target_fpir=runtime.settings.target_fpir if in_force.basis == "fpir" else None,
        threshold_matched=in_force.matched,
        template_match=runtime.threshold_policy.template_match,
        frame_fusion=runtime.settings.frame_fusion,
    )
