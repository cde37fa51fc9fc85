"""Prometheus metrics, one registry per app (several apps in one process, as in the tests, never mix figures).

- ``facegate_decisions_total{decision, reason}``: access decisions.
- ``facegate_stage_seconds{stage}``: time per request-path stage (decode, detect, align, embed, search, policy, log).
- ``facegate_http_requests_total{method, route, status}`` and ``facegate_http_request_seconds{route}``.
- ``facegate_decision_score{outcome}``: the best person's cosine score of each ``granted`` decision and of each
  ``unknown_face`` denial (a face that matched nobody): the two populations either side of the threshold, whose
  drift (new camera, lighting, a model change) shows before the error rates do.
- ``facegate_index_templates`` / ``facegate_index_revision``: the vector index, read at scrape time;
  ``facegate_threshold`` and ``facegate_threshold_gallery_size``: the threshold in force and the gallery size
  (templates) it was derived for.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from service.domain.outcomes import AccessOutcome

# Cosine scores: fine steps where thresholds live (0.3-0.7), coarse elsewhere.
_SCORE_BUCKETS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0)
_STAGE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


class _IndexCollector(Collector):
    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def collect(self) -> Iterable[GaugeMetricFamily]:
        runtime = getattr(self._app.state, "runtime", None)
        if runtime is None:
            return
        size = GaugeMetricFamily("facegate_index_templates", "Templates in this replica's vector index.")
        size.add_metric([], runtime.index.size)
        revision = GaugeMetricFamily("facegate_index_revision", "Template revision this replica's index reflects.")
        revision.add_metric([], runtime.index.revision)
        yield size
        yield revision
        in_force = runtime.threshold_in_force()
        threshold = GaugeMetricFamily("facegate_threshold", "The match threshold in force.")
        threshold.add_metric([], in_force.threshold)
        gallery = GaugeMetricFamily(
            "facegate_threshold_gallery_size", "Templates (gallery size) the threshold in force was derived for."
        )
        gallery.add_metric([], in_force.gallery_size)
        yield threshold
        yield gallery


class ServiceMetrics:
    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "facegate_decisions", "Access decisions.", ["decision", "reason"], registry=self.registry
        )
        self.stage_seconds = Histogram(
            "facegate_stage_seconds",
            "Time per request-path stage.",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.decision_score = Histogram(
            "facegate_decision_score",
            "Best person's cosine score: granted decisions, and denials of faces that matched nobody.",
            ["outcome"],
            buckets=_SCORE_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "facegate_http_requests", "HTTP requests.", ["method", "route", "status"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "facegate_http_request_seconds",
            "HTTP request latency.",
            ["route"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_IndexCollector(app))

    def observe_decision(self, outcome: AccessOutcome) -> None:
        """Count one access decision (API or kiosk alike): its reason, its score where it has one, its stages."""
        decision, reason, score = outcome.decision.value, outcome.reason.value, outcome.score
        self.decisions.labels(decision=decision, reason=reason).inc()
        if score is not None and decision == "granted":
            self.decision_score.labels(outcome="granted").observe(score)
        elif score is not None and reason == "unknown_face":
            self.decision_score.labels(outcome="unknown_face").observe(score)
        for stage, ms in outcome.stages_ms.items():
            self.stage_seconds.labels(stage=stage).observe(ms / 1000.0)


def install_metrics(app: FastAPI) -> ServiceMetrics:
    """Create the app's metrics and a middleware counting requests by route template (never by raw path, whose
    ids would make unbounded label values)."""
    metrics = ServiceMetrics(app)
    app.state.metrics = metrics

    @app.middleware("http")
    async def _count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route: Any = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            metrics.requests.labels(method=request.method, route=template, status=str(status)).inc()
            metrics.request_seconds.labels(route=template).observe(time.perf_counter() - started)

    return metrics
