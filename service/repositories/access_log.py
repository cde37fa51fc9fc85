"""The append-only access log: one row per decision (the database refuses updates and deletes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import AccessLogEntry, Decision


def append_entry(
    session: Session,
    *,
    door_id: int | None,
    door_name: str | None,
    key_id: int | None,
    decision: Decision,
    reason: str,
    person_id: int | None,
    person_external_id: str | None,
    score: float | None,
    margin: float | None,
    quality: dict[str, Any] | None,
    latency_ms: float,
    model_id: str | None,
    ts: datetime | None = None,
) -> AccessLogEntry:
    entry = AccessLogEntry(
        door_id=door_id,
        door_name=door_name,
        key_id=key_id,
        decision=decision,
        reason=reason,
        person_id=person_id,
        person_external_id=person_external_id,
        score=score,
        margin=margin,
        quality=quality,
        latency_ms=latency_ms,
        model_id=model_id,
    )
    if ts is not None:
        entry.ts = ts
    session.add(entry)
    session.flush()
    return entry


def query_log(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    door_id: int | None = None,
    person_id: int | None = None,
    decision: Decision | None = None,
    reason: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AccessLogEntry], int]:
    """A page of entries, newest first, and how many match in all. ``since`` inclusive, ``until`` exclusive."""
    statement = select(AccessLogEntry)
    if since is not None:
        statement = statement.where(AccessLogEntry.ts >= since)
    if until is not None:
        statement = statement.where(AccessLogEntry.ts < until)
    if door_id is not None:
        statement = statement.where(AccessLogEntry.door_id == door_id)
    if person_id is not None:
        statement = statement.where(AccessLogEntry.person_id == person_id)
    if decision is not None:
        statement = statement.where(AccessLogEntry.decision == decision)
    if reason is not None:
        statement = statement.where(AccessLogEntry.reason == reason)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    ordered = statement.order_by(AccessLogEntry.ts.desc(), AccessLogEntry.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(ordered)), total
