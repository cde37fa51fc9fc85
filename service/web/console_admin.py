"""Console pages for oversight: the access log (filters, paging), API keys (the secret shown once, revoke),
webhooks (subscriptions, the outbox, re-send), and the model/index status with the live counters of ``/metrics``
drawn as small charts (static/console.js polls ``/console/metrics.json``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from service.api.metrics import ServiceMetrics
from service.core import records
from service.db.models import Decision, EventStatus, KeyRole
from service.repositories import doors as doors_repo
from service.repositories import keys as keys_repo
from service.repositories import webhooks as webhooks_repo
from service.repositories.access_log import query_log
from service.repositories.browser_sessions import BrowserSession
from service.repositories.errors import StorageError
from service.schemas.admin import KeyCreate, LogQuery
from service.schemas.params import Digits
from service.schemas.webhooks import WebhookCreate
from service.web.pages import done, form_ids, form_text, problem_text, render, runtime_of
from service.web.security import console_admin, console_user

router = APIRouter(prefix="/console", include_in_schema=False)

Viewer = Annotated[BrowserSession, Depends(console_user)]
Changer = Annotated[BrowserSession, Depends(console_admin)]
RowId = Annotated[Digits, Path(gt=0, le=2**31 - 1)]
EventId = Annotated[Digits, Path(gt=0, le=2**63 - 1)]
LOG_PAGE = 50


# -- access log -------------------------------------------------------------------------------------------------


@router.get("/log")
def log_page(
    request: Request,
    _user: Viewer,
    door_id: Annotated[Digits | None, Query(gt=0, le=2**31 - 1)] = None,
    decision: Annotated[Decision | None, Query()] = None,
    reason: Annotated[str, Query(max_length=64, pattern=r"^[a-z_]*$")] = "",
    days: Annotated[Digits, Query(ge=1, le=3660)] = 7,
    offset: Annotated[Digits, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    """The API's log filters: door, decision, reason, the last ``days`` days; newest first, 50 a page."""
    since = datetime.now(UTC) - timedelta(days=days)
    with runtime_of(request).sessionmaker() as session:
        query = LogQuery(
            since=since, door_id=door_id, decision=decision, reason=reason or None, limit=LOG_PAGE, offset=offset
        )
        entries, total = query_log(session, query)
        doors, _ = doors_repo.list_doors(session, limit=500, offset=0)
    filters = {"door_id": door_id or "", "decision": decision.value if decision else "", "reason": reason, "days": days}
    context = {"entries": entries, "total": total, "offset": offset, "page_size": LOG_PAGE, "doors": doors}
    return render(request, "log.html", context | {"filters": filters})


# -- keys -------------------------------------------------------------------------------------------------------


def _keys_page(request: Request, extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    with runtime_of(request).sessionmaker() as session:
        keys = keys_repo.list_keys(session, include_revoked=True)
        doors, _ = doors_repo.list_doors(session, limit=500, offset=0)
        bound = {key.id: keys_repo.key_door_ids(session, key_id=key.id) for key in keys}
    context = {"keys": keys, "doors": doors, "bound": bound, "roles": [r.value for r in KeyRole]}
    return render(request, "keys.html", context | (extra or {}), status_code=status_code)


@router.get("/keys")
def keys_page(request: Request, _user: Viewer) -> Response:
    return _keys_page(request)


@router.post("/keys")
async def create_key(request: Request, _user: Changer) -> Response:
    """Create a key; the page shows its secret this once (it is not stored)."""
    form = await request.form()
    try:
        door_ids = form_ids(form.getlist("door_ids"))
        body = KeyCreate.model_validate(
            {"name": form_text(form, "name"), "role": form_text(form, "role"), "door_ids": door_ids}
        )
        with runtime_of(request).sessionmaker.begin() as session:
            key, token = records.create_key(session, body)
    except (ValidationError, StorageError) as exc:
        return _keys_page(request, {"error": problem_text(exc)}, 422)
    return _keys_page(request, {"created": {"name": key.name, "role": key.role.value, "token": token}}, 201)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: RowId, user: Changer) -> Response:
    try:
        with runtime_of(request).sessionmaker.begin() as session:
            keys_repo.revoke_key(session, key_id=key_id, caller_key_id=user.principal.key_id)
    except StorageError as exc:
        return _keys_page(request, {"error": problem_text(exc)}, 409)
    return done("/console/keys", f"revoked key {key_id}")


# -- webhooks ---------------------------------------------------------------------------------------------------


def _webhooks_page(request: Request, extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    status_filter = request.query_params.get("status", "")
    chosen = EventStatus(status_filter) if status_filter in {s.value for s in EventStatus} else None
    with runtime_of(request).sessionmaker() as session:
        subscriptions = webhooks_repo.list_subscriptions(session)
        events, total = webhooks_repo.list_events(session, status=chosen, limit=100)
        doors, _ = doors_repo.list_doors(session, limit=500, offset=0)
    context = {
        "subscriptions": subscriptions,
        "events": events,
        "events_total": total,
        "doors": doors,
        "status_filter": chosen.value if chosen else "",
    }
    return render(request, "webhooks.html", context | (extra or {}), status_code=status_code)


@router.get("/webhooks")
def webhooks_page(request: Request, _user: Viewer) -> Response:
    return _webhooks_page(request)


@router.post("/webhooks")
async def create_webhook(request: Request, _user: Changer) -> Response:
    form = await request.form()
    try:
        door_ids = form_ids(form.getlist("door_ids"))
        decisions = [d for d in form.getlist("decisions") if isinstance(d, str)]
        body = WebhookCreate.model_validate(
            {
                "url": form_text(form, "url", max_length=2048),
                "secret": form_text(form, "secret", max_length=256) or None,
                "door_ids": door_ids or None,
                "decisions": decisions or None,
            }
        )
        with runtime_of(request).sessionmaker.begin() as session:
            row = records.create_webhook(session, body)
    except (ValidationError, StorageError) as exc:
        return _webhooks_page(request, {"error": problem_text(exc)}, 422)
    return _webhooks_page(request, {"created": {"id": row.id, "url": row.url, "secret": row.secret}}, 201)


@router.post("/webhooks/{subscription_id}/delete")
async def delete_webhook(request: Request, subscription_id: RowId, _user: Changer) -> Response:
    try:
        with runtime_of(request).sessionmaker.begin() as session:
            webhooks_repo.delete_subscription(session, subscription_id=subscription_id)
    except StorageError as exc:
        return _webhooks_page(request, {"error": problem_text(exc)}, 404)
    return done("/console/webhooks", f"deleted webhook {subscription_id}")


@router.post("/webhooks/events/{event_id}/resend")
async def resend_event(
    request: Request, event_id: Annotated[Digits, Path(gt=0, le=2**63 - 1)], _user: Changer
) -> Response:
    runtime = runtime_of(request)
    try:
        with runtime.sessionmaker.begin() as session:
            webhooks_repo.resend(session, event_id=event_id)
    except StorageError as exc:
        return _webhooks_page(request, {"error": problem_text(exc)}, 404)
    if runtime.events is not None:
        runtime.events.wake()
    return done("/console/webhooks", f"event {event_id} is due again")


# -- status and metrics -----------------------------------------------------------------------------------------


@router.get("/status")
def status_page(request: Request, _user: Viewer) -> Response:
    runtime = runtime_of(request)
    package = runtime.embedder.package
    with runtime.sessionmaker() as session:
        outbox = webhooks_repo.event_counts(session)
    context = {
        "model_id": runtime.embedder.model_id,
        "trained": package.trained,
        "threshold": runtime.match_rule.threshold,
        "margin": runtime.match_rule.margin,
        "target_far": runtime.settings.target_far,
        "index_kind": runtime.settings.index_kind,
        "index_templates": runtime.index.size,
        "index_revision": runtime.index.revision,
        "uptime_s": int(datetime.now(UTC).timestamp() - runtime.started_at),
        "outbox": outbox,
        "sender": runtime.events is not None,
    }
    return render(request, "status.html", context)


@router.get("/metrics.json")
def metrics_json(request: Request, _user: Viewer) -> JSONResponse:
    """The counters the status page draws: decisions by reason, HTTP answers by status class."""
    metrics = cast(ServiceMetrics, request.app.state.metrics)
    decisions: dict[str, float] = {}
    answers: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "facegate_decisions_total":
                label = f"{sample.labels['decision']}: {sample.labels['reason']}"
                decisions[label] = decisions.get(label, 0.0) + sample.value
            elif sample.name == "facegate_http_requests_total":
                label = sample.labels["status"][:1] + "xx"
                answers[label] = answers.get(label, 0.0) + sample.value
    return JSONResponse({"decisions": decisions, "http": answers})
