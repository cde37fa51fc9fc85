"""``GET /metrics``: Prometheus text format. Auditor or admin keys (Prometheus sends one as a bearer token)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.auth import AuditorKey
from service.api.deps import MetricsDep
from service.api.errors import problem_responses

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics"},
        **problem_responses(401, 403, 429),
    },
)
def metrics(metrics: MetricsDep, _key: AuditorKey) -> Response:
    """Decisions by reason, per-stage latency histograms, HTTP requests, index size and revision."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
