"""The append-only access log: one row per decision (the database refuses updates and deletes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import AccessLogEntry, ApiKey, Decision, Door, Person
from service.repositories.locks import keep_row, take_write_lock
from service.schemas.admin import LogQuery


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
    rule_id: int | None = None,
    threshold: float | None = None,
    gallery_size: int | None = None,
) -> AccessLogEntry:
    """Write one decision. A door, key or person it names that is gone by now (deleted while the decision was
    being made) is written as None, its name kept in ``door_name`` / ``person_external_id``: the decision is
    logged whatever happened to the rows it read. The references still there stay locked until commit, so a
    deletion cannot slip in between (its ON DELETE SET NULL then applies to this entry like to any other)."""
    take_write_lock(session)
    entry = AccessLogEntry(
        door_id=keep_row(session, Door, door_id),
        door_name=door_name,
        key_id=keep_row(session, ApiKey, key_id),
        decision=decision,
        reason=reason,
        person_id=keep_row(session, Person, person_id),
        person_external_id=person_external_id,
        score=score,
        margin=margin,
        quality=quality,
        latency_ms=latency_ms,
        model_id=model_id,
        rule_id=rule_id,
        threshold=threshold,
        gallery_size=gallery_size,
    )
    if ts is not None:
        entry.ts = ts
    session.add(entry)
    session.flush()
    return entry


def query_log(session: Session, query: LogQuery) -> tuple[list[AccessLogEntry], int]:
    """A page of entries, newest first, and how many match in all. ``since`` inclusive, ``until`` exclusive."""
    statement = select(AccessLogEntry)
    if query.since is not None:
        statement = statement.where(AccessLogEntry.ts >= query.since)
    if query.until is not None:
        statement = statement.where(AccessLogEntry.ts < query.until)
    if query.door_id is not None:
        statement = statement.where(AccessLogEntry.door_id == query.door_id)
    if query.person_id is not None:
        statement = statement.where(AccessLogEntry.person_id == query.person_id)
    if query.decision is not None:
        statement = statement.where(AccessLogEntry.decision == query.decision)
    if query.reason is not None:
        statement = statement.where(AccessLogEntry.reason == query.reason)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    ordered = statement.order_by(AccessLogEntry.ts.desc(), AccessLogEntry.id.desc())
    return list(session.scalars(ordered.limit(query.limit).offset(query.offset))), total
