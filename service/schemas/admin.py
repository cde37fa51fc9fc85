"""Schemas of API keys and of the access log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from service.db.models import AccessLogEntry, ApiKey, Decision, KeyRole
from service.schemas import Instant, PlainText100, Schema
from service.schemas.params import Digits


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

    @classmethod
    def of(cls, key: ApiKey, door_ids: list[int]) -> KeyPublic:
        """The API's view of a stored key (never its secret) and the doors it is bound to."""
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            role=key.role,
            door_ids=door_ids,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret key. Shown once: only its hash is stored.")


MAX_ID = 2**31 - 1
LOG_PAGE_MAX = 500  # entries per HTTP page


class LogQuery(Schema):
    """The access log's filters and page, for ``GET /v1/access/log`` (query parameters), the console's log page
    and ``facegate log``. Unknown query parameters are ignored, as everywhere in the API."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    since: Instant | None = Field(default=None, description="From this instant (inclusive).")
    until: Instant | None = Field(default=None, description="Before this instant.")
    door_id: Digits | None = Field(default=None, gt=0, le=MAX_ID)
    person_id: Digits | None = Field(default=None, gt=0, le=MAX_ID)
    decision: Decision | None = None
    reason: str | None = Field(default=None, max_length=64, pattern=r"^[a-z_]+$")
    limit: Digits = Field(default=100, ge=1, le=LOG_PAGE_MAX)
    offset: Digits = Field(default=0, ge=0, le=MAX_ID)


class LogExport(LogQuery):
    """:class:`LogQuery` for the CLI, which may read more than one HTTP page at once."""

    limit: Digits = Field(default=100, ge=1, le=100_000)


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

    @classmethod
    def of(cls, entry: AccessLogEntry) -> LogEntryPublic:
        """The API's view of a stored log entry (route, console and CLI share it)."""
        return cls.model_validate(entry, from_attributes=True)


class LogPage(Schema):
    items: list[LogEntryPublic]
    total: int
    limit: int
    offset: int
