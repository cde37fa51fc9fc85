"""Column types and value checks shared by the schema: UTC timestamps that come back aware on every dialect,
and IANA time-zone names."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC ``datetime``.

    PostgreSQL keeps it in a ``timestamptz``. SQLite has no time-zone type and SQLAlchemy's SQLite ``DATETIME``
    drops the offset, so the value is converted to UTC and stored without one, then marked UTC when read.
    A naive ``datetime`` is refused: guessing its zone is how audit logs end up an hour off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a time zone (e.g. UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def validate_timezone(name: str) -> str:
    """``name`` if it is an IANA time-zone name known to :mod:`zoneinfo` (``"Europe/Paris"``, ``"UTC"``).

    Raises :class:`ValueError` otherwise; pydantic schemas can reuse it as a validator.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"invalid time zone {name!r}: expected an IANA name such as 'Europe/Paris'")
    # The IANA list, not whatever ZoneInfo opens: "Europe" is a folder (IsADirectoryError), "localtime" and
    # "posixrules" depend on the host.
    if name not in _known_timezones():
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Paris'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Paris'") from exc
    return name


@functools.cache
def _known_timezones() -> frozenset[str]:
    return frozenset(available_timezones() - {"localtime", "posixrules", "Factory"})
