"""Schemas of API keys and of the access log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from service.db.models import Decision, KeyRole
from service.schemas import PlainText100, Schema


class KeyCreate(Schema):
    name: PlainText100 = Field(examples=["front door terminal"])
    role: KeyRole
    door_ids: list[Annotated[int, Field(gt=0, le=2**31 - 1, strict=True)]] = Field(
        default_factory=list, max_length=1000, description="Terminal keys only: the doors it may ask about."
    )


class KeyPublic(Schema):
    id: int
    name: str
    prefix: str = Field(description="The key's public prefix (fg_xxxxxxxx), to recognise it in lists and logs.")
    role: KeyRole
    door_ids: list[int]
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret key. Shown once: only its hash is stored.")


class LogEntryPublic(Schema):
    id: int
    ts: datetime
    door_id: int | None
    door_name: str | None
    key_id: int | None
    decision: Decision
    reason: str
    person_id: int | None
    person_external_id: str | None
    score: float | None
    margin: float | None
    quality: dict[str, Any] | None
    latency_ms: float
    model_id: str | None
    rule_id: int | None = Field(description="The rule that granted access; null for a denial.")
    threshold: float | None = None
    gallery_size: int | None = None


class LogPage(Schema):
    items: list[LogEntryPublic]
    total: int
    limit: int
    offset: int
