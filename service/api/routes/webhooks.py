"""Webhook subscriptions and their events (the outbox): create, list, pause, delete; list events, re-send one.
Admin keys only: an administrator chooses where the service posts (see docs/API.md, "Decision events")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from service.api.auth import AdminKey
from service.api.deps import RuntimeDep, SessionDep
from service.api.errors import problem_responses
from service.core import records
from service.db.models import EventStatus
from service.repositories import webhooks as repo
from service.schemas.params import Digits
from service.schemas.rights import MAX_ID
from service.schemas.webhooks import (
    WebhookCreate,
    WebhookCreated,
    WebhookEventPage,
    WebhookEventPublic,
    WebhookPublic,
    WebhookUpdate,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

SubscriptionId = Annotated[Digits, Path(gt=0, le=MAX_ID, description="The subscription's id.")]
EventId = Annotated[Digits, Path(gt=0, le=2**63 - 1, description="The event's id.")]
_AUTH = (401, 403, 429)


@router.get("/events", summary="List webhook events", responses=problem_responses(*_AUTH, 422))
def list_events(
    session: SessionDep,
    _key: AdminKey,
    status_: Annotated[EventStatus | None, Query(alias="status", description="Only this state.")] = None,
    subscription_id: Annotated[Digits | None, Query(gt=0, le=MAX_ID)] = None,
    limit: Annotated[Digits, Query(ge=1, le=500)] = 100,
    offset: Annotated[Digits, Query(ge=0, le=MAX_ID)] = 0,
) -> WebhookEventPage:
    """Events newest first: ``pending`` (due, or waiting for a retry), ``delivered``, or ``dead`` (every attempt
    failed; re-send it once the receiver is fixed)."""
    rows, total = repo.list_events(session, status=status_, subscription_id=subscription_id, limit=limit, offset=offset)
    return WebhookEventPage(items=[WebhookEventPublic.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post(
    "/events/{event_id}/resend", summary="Re-send a webhook event", responses=problem_responses(*_AUTH, 404, 422)
)
def resend_event(event_id: EventId, session: SessionDep, runtime: RuntimeDep, _key: AdminKey) -> WebhookEventPublic:
    """Make the event due now with a fresh count of attempts (its id stays: receivers de-duplicate on it)."""
    event = repo.resend(session, event_id=event_id)
    session.commit()
    if runtime.events is not None:
        runtime.events.wake()
    return WebhookEventPublic.of(event)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe to decision events",
    responses=problem_responses(*_AUTH, 404, 409, 422),
)
def create_webhook(body: WebhookCreate, session: SessionDep, _key: AdminKey) -> WebhookCreated:
    """Post each matching decision to ``url``, signed with ``secret`` (returned this once).

    422 ``url_invalid`` (not http/https, credentials in it), ``secret_invalid``; 404 ``door_not_found``.
    """
    row = records.create_webhook(session, body)
    session.commit()
    return WebhookCreated.of(row)


@router.get("", summary="List webhook subscriptions", responses=problem_responses(*_AUTH))
def list_webhooks(session: SessionDep, _key: AdminKey) -> list[WebhookPublic]:
    """Every subscription (at most 100), without secrets."""
    return [WebhookPublic.of(row) for row in repo.list_subscriptions(session)]


@router.patch("/{subscription_id}", summary="Pause or resume", responses=problem_responses(*_AUTH, 404, 422))
def update_webhook(
    subscription_id: SubscriptionId, body: WebhookUpdate, session: SessionDep, _key: AdminKey
) -> WebhookPublic:
    row = repo.set_active(session, subscription_id=subscription_id, active=body.active)
    session.commit()
    return WebhookPublic.of(row)


@router.delete(
    "/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a subscription",
    responses=problem_responses(*_AUTH, 404, 422),
)
def delete_webhook(subscription_id: SubscriptionId, session: SessionDep, _key: AdminKey) -> Response:
    """Delete the subscription and its events, delivered or not."""
    repo.delete_subscription(session, subscription_id=subscription_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
