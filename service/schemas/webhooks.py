"""Schemas of the webhook resources: subscriptions (the secret shown once, at creation) and outbox events."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from service.db.models import EventStatus, WebhookEvent, WebhookSubscription
from service.schemas import Schema
from service.schemas.rights import Id

DecisionName = Literal["granted", "denied"]


class WebhookCreate(Schema):
    """A subscription: where to post, how to sign, and which decisions."""

    url: str = Field(min_length=1, max_length=2048, description="http:// or https:// URL the events are posted to.")
    secret: str | None = Field(
        default=None, min_length=16, max_length=256, description="Signing secret; omitted: a random one is returned."
    )
    door_ids: list[Id] | None = Field(default=None, max_length=1000, description="Only these doors; null: every door.")
    decisions: list[DecisionName] | None = Field(
        default=None, max_length=2, description="Only these decisions; null: both."
    )


class WebhookUpdate(Schema):
    active: bool = Field(description="false pauses the subscription: no new events are written for it.")


class WebhookPublic(Schema):
    id: int
    url: str
    door_ids: list[int] | None
    decisions: list[str] | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookSubscription) -> WebhookPublic:
        return cls(
            id=row.id,
            url=row.url,
            door_ids=row.door_ids,
            decisions=row.decisions,
            active=row.active,
            created_at=row.created_at,
        )


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing secret, shown this once.")

    @classmethod
    def of(cls, row: WebhookSubscription) -> WebhookCreated:
        """A new subscription with its secret (the answer to its creation only)."""
        return cls(**WebhookPublic.of(row).model_dump(), secret=row.secret)


class WebhookEventPublic(Schema):
    id: int
    subscription_id: int
    log_id: int | None
    status: EventStatus
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: WebhookEvent) -> WebhookEventPublic:
        return cls(
            id=row.id,
            subscription_id=row.subscription_id,
            log_id=row.log_id,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_status=row.last_status,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            payload=json.loads(row.payload),
        )


class WebhookEventPage(Schema):
    items: list[WebhookEventPublic]
    total: int
    limit: int
    offset: int
