"""Timestamps are aware UTC on both dialects; time zones are IANA names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from service.db.models import AccessLogEntry, Decision, Door, Person
from service.db.types import utcnow, validate_timezone

PLUS_5 = timezone(timedelta(hours=5, minutes=30))


def test_aware_datetimes_come_back_aware_utc(session: Session) -> None:
    local = datetime(2025, 6, 30, 23, 45, 0, 250000, tzinfo=PLUS_5)
    person = Person(external_id="T-1", display_name="t", valid_from=local, valid_until=local + timedelta(days=30))
    session.add_all([person, AccessLogEntry(ts=local, decision=Decision.GRANTED, reason="granted", latency_ms=1.0)])
    session.commit()
    session.expunge_all()

    back = session.scalars(select(Person)).one()
    for value in (back.valid_from, back.valid_until, back.created_at, back.updated_at):
        assert value is not None and value.tzinfo is UTC
    assert back.valid_from == local and back.valid_from.hour == 18  # 23:45 at +05:30 is 18:15 UTC
    ts = session.scalars(select(AccessLogEntry.ts)).one()
    assert ts == local and ts.tzinfo is UTC
    assert abs(back.created_at - utcnow()) < timedelta(minutes=1)


def test_comparisons_use_utc(session: Session) -> None:
    session.add(AccessLogEntry(ts=datetime(2025, 1, 1, 12, tzinfo=UTC), decision="denied", reason="x", latency_ms=1))
    session.commit()
    # 13:00 at +05:30 is 07:30 UTC: before the entry.
    since = datetime(2025, 1, 1, 13, tzinfo=PLUS_5)
    assert session.scalars(select(AccessLogEntry.id).where(AccessLogEntry.ts > since)).all() != []
    assert session.scalars(select(AccessLogEntry.id).where(AccessLogEntry.ts < since)).all() == []


def test_naive_datetime_is_refused(session: Session) -> None:
    session.add(Person(external_id="N-1", display_name="n", valid_from=datetime(2025, 1, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


@pytest.mark.parametrize("name", ["Europe/Paris", "America/Argentina/Buenos_Aires", "UTC", "Asia/Kolkata"])
def test_known_time_zones_pass(name: str) -> None:
    assert validate_timezone(name) == name
    assert Door(name="d", timezone=name).timezone == name


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "Europe/Paris ", "../../etc/passwd", "+05:30", "europe/nowhere"])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        validate_timezone(name)
    with pytest.raises(ValueError, match="time zone"):
        Door(name="d", timezone=name)
