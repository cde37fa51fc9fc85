"""The append-only access log: one row per decision (the database refuses updates and deletes)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import AccessLogEntry, ApiKey, Door, Person
from service.domain.outcomes import AccessOutcome
from service.repositories.locks import keep_row, take_write_lock
from service.schemas.admin import LogQuery


def append_entry(
    session: Session, outcome: AccessOutcome, *, door_name: str | None, key_id: int | None
) -> AccessLogEntry:
    """Write one decision (its ``log_id`` is not read: the entry's id is that). ``door_name`` and ``key_id`` say
    where and by which key it was asked.

    A door, key or person it names that is gone by now (deleted while the decision was being made) is written as
    None, its name kept in ``door_name`` / ``person_external_id``: the decision is logged whatever happened to the
    rows it read. The references still there stay locked until commit, so a deletion cannot slip in between (its
    ON DELETE SET NULL then applies to this entry like to any other)."""
    take_write_lock(session)
    person = outcome.person
    entry = AccessLogEntry(
        door_id=keep_row(session, Door, outcome.door_id),
        door_name=door_name,
        key_id=keep_row(session, ApiKey, key_id),
        decision=outcome.decision,
        reason=outcome.reason.value,
        person_id=keep_row(session, Person, person.id if person else None),
        person_external_id=person.external_id if person else None,
        score=outcome.score,
        margin=outcome.margin,
        quality=outcome.quality,
        latency_ms=outcome.latency_ms,
        model_id=outcome.model_id,
        rule_id=outcome.rule_id if outcome.granted else None,
        threshold=outcome.threshold,
        gallery_size=outcome.gallery_size,
        ts=outcome.at,
    )
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
