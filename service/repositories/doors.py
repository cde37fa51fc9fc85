"""Doors in SQL: create, read, list, rename or move to another time zone, delete.

A door's time zone is how its rules' weekly windows are read (see :mod:`service.domain.policy`), so an unknown
zone is refused here rather than discovered at the first access check. Deleting a door deletes its rules and
its terminal-key bindings in SQL (ON DELETE CASCADE); its access-log entries keep ``door_name``.
"""

from __future__ import annotations

import unicodedata
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db.models import Door
from service.db.types import validate_timezone
from service.repositories.errors import ConflictError, InvalidValueError, NotFoundError

NAME_MAX_LENGTH = 100  # the width of doors.name and groups.name
TIMEZONE_MAX_LENGTH = 64  # the width of doors.timezone

Row = TypeVar("Row")


def page(session: Session, statement: Select[Row], *, limit: int, offset: int) -> tuple[list[Row], int]:
    """One page of an ordered ``statement`` and the number of rows in all pages (shared by the rights tables).

    The total is counted over the same statement, so it cannot disagree with the filters of the page.
    """
    counted: Select[Any] = select(func.count()).select_from(statement.order_by(None).subquery())
    total = session.scalar(counted) or 0
    return list(session.scalars(statement.limit(limit).offset(offset))), total


def check_name(name: str, *, max_length: int = NAME_MAX_LENGTH) -> str:
    """``name`` if it may name a door or a group, else :class:`InvalidValueError` ``name_invalid``.

    Checked here and not only in the HTTP schemas because the CLI writes too, and because what slips through
    fails late and badly: PostgreSQL refuses a NUL byte or a lone surrogate with a driver error (a 500), and
    SQLite does not enforce the column width at all. Surrounding spaces are refused rather than stripped, so that
    storage never changes what it was given.
    """
    if not isinstance(name, str) or not name or len(name) > max_length:
        raise InvalidValueError("name_invalid", f"a name is 1 to {max_length} characters")
    if name != name.strip():
        raise InvalidValueError("name_invalid", "a name may not start or end with white space")
    # Control, format (zero-width, direction overrides), surrogate, private-use and unassigned characters, and
    # line separators: invisible ones let two look-alike doors exist side by side.
    if any(unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp") for char in name):
        raise InvalidValueError("name_invalid", "a name may not contain control or invisible characters")
    if unicodedata.normalize("NFC", name) != name:
        raise InvalidValueError("name_invalid", "a name is stored in Unicode NFC (the API normalises it)")
    return name


def check_timezone(timezone: str) -> str:
    """``timezone`` if it is a known IANA name, else :class:`InvalidValueError` ``timezone_invalid``."""
    if not isinstance(timezone, str) or len(timezone) > TIMEZONE_MAX_LENGTH:
        raise InvalidValueError("timezone_invalid", f"a time zone is an IANA name of at most {TIMEZONE_MAX_LENGTH}")
    try:
        return validate_timezone(timezone)
    except (ValueError, OSError) as exc:
        # zoneinfo reports a folder name ("Europe") or an over-long name as OSError, which validate_timezone
        # lets through; either way the caller gave a name that is not a zone.
        raise InvalidValueError("timezone_invalid", f"unknown time zone {timezone!r}") from exc


def _check_name_free(session: Session, name: str, *, door_id: int | None = None) -> None:
    statement = select(Door.id).where(Door.name == name)
    if door_id is not None:
        statement = statement.where(Door.id != door_id)
    if session.scalar(statement) is not None:
        raise ConflictError("name_taken", f"a door named {name!r} exists already")


def _flush(session: Session, name: str) -> None:
    # The check above runs before the write; another transaction can still take the name in between, and the
    # unique index then refuses the flush. That is the same conflict, so it gets the same code. The session
    # is left needing a rollback, as after any failed flush.
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError("name_taken", f"a door named {name!r} exists already") from exc


def create_door(session: Session, *, name: str, timezone: str) -> Door:
    """Store a new door; ``name_taken`` (409) when the name is used, ``timezone_invalid`` for an unknown zone."""
    name = check_name(name)
    timezone = check_timezone(timezone)
    _check_name_free(session, name)
    door = Door(name=name, timezone=timezone)
    session.add(door)
    _flush(session, name)
    return door


def get_door(session: Session, *, door_id: int) -> Door:
    door = session.get(Door, door_id)
    if door is None:
        raise NotFoundError("door", door_id)
    return door


def get_door_by_name(session: Session, *, name: str) -> Door:
    door = session.scalar(select(Door).where(Door.name == name))
    if door is None:
        raise NotFoundError("door", name)
    return door


def list_doors(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[Door], int]:
    """One page of doors by id (so pages do not shift as doors are renamed), and how many doors there are."""
    return page(session, select(Door).order_by(Door.id), limit=limit, offset=offset)


def update_door(session: Session, *, door_id: int, name: str | None = None, timezone: str | None = None) -> Door:
    """Rename the door and/or change its time zone; ``None`` leaves a field as it is.

    Changing the zone moves every schedule at this door to the new local clock, which is the point (a door
    set up in the wrong zone is fixed by correcting the zone, not by rewriting its rules).
    """
    door = get_door(session, door_id=door_id)
    if name is not None:
        name = check_name(name)
        _check_name_free(session, name, door_id=door_id)
    if timezone is not None:
        timezone = check_timezone(timezone)
    if name is not None:
        door.name = name
    if timezone is not None:
        door.timezone = timezone
    _flush(session, door.name)
    return door


def delete_door(session: Session, *, door_id: int) -> None:
    """Delete the door; SQL deletes its rules and its terminal-key bindings with it."""
    door = get_door(session, door_id=door_id)
    session.delete(door)
    session.flush()
