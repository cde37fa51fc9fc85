"""Schemas of the rights resources: doors, groups and their members, access rules.

Rules speak the administrator's language: ``{"days": ["mon", "fri"], "start": "08:00", "end": "18:00"}``.
:meth:`WeeklyWindow.per_day` turns that into the storage's per-weekday minute windows and
:func:`weekly_windows` turns them back, so a rule reads back as it was written. Instants must carry a time
zone: a naive one would be guessed, and a guessed zone is how a badge works an hour too long.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from service.db.models import AccessRule, Door, Group, Person, PersonStatus
from service.schemas import NFC, Instant, Schema

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[DayName, ...] = get_args(DayName)  # index = weekday, 0 = Monday, as datetime.weekday()

MAX_ID = 2**31 - 1  # SQL INTEGER: a larger id would be a driver error, not a 404
# strict: a JSON integer only (lax mode read "1_0" as 10 and 1.0 as 1)
Id = Annotated[int, Field(gt=0, le=MAX_ID, strict=True)]
# NFC here; the characters a name may hold are checked by the repository (name_invalid), for the CLI too.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NFC]
TimezoneName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
StartTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
EndTime = Annotated[str, StringConstraints(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


def _minute(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class WeeklyWindow(Schema):
    """A weekly time window in the door's local time. ``end`` before ``start`` runs past midnight into the next
    day (Sunday into Monday); ``"24:00"`` ends at midnight; ``start`` equal to ``end`` is refused."""

    days: list[DayName] = Field(min_length=1, max_length=7, description="Days the window starts on.")
    start: StartTime = Field(description="Local start time, HH:MM (00:00 to 23:59).", examples=["08:00"])
    end: EndTime = Field(description="Local end time, HH:MM (00:00 to 24:00), exclusive.", examples=["18:00"])

    def per_day(self) -> list[tuple[int, int, int]]:
        """The storage's windows: one ``(weekday, start_minute, end_minute)`` per day, in week order."""
        start, end = _minute(self.start), _minute(self.end)
        return [(weekday, start, end) for weekday in sorted({DAY_NAMES.index(day) for day in self.days})]


def weekly_windows(rows: Iterable[tuple[int, int, int]]) -> list[WeeklyWindow]:
    """Per-weekday windows grouped back into the friendly form: one entry per (start, end), its days in week
    order, entries ordered by their first day then start."""
    days: dict[tuple[int, int], set[int]] = {}
    for weekday, start, end in rows:
        days.setdefault((start, end), set()).add(weekday)
    entries = sorted(days.items(), key=lambda item: (min(item[1]), item[0]))
    return [
        WeeklyWindow(days=[DAY_NAMES[day] for day in sorted(weekdays)], start=_clock(start), end=_clock(end))
        for (start, end), weekdays in entries
    ]


class _Page(Schema):
    total: int = Field(description="How many items all pages hold.")
    limit: int
    offset: int


# --- doors ---------------------------------------------------------------------------------------------------


class DoorCreate(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "main entrance", "timezone": "Europe/Paris"}]},
    )

    name: Name = Field(description="Unique name of the door.", examples=["main entrance"])
    timezone: TimezoneName = Field(
        description="IANA time zone the door's schedules are read in (timezone_invalid otherwise).",
        examples=["Europe/Paris"],
    )


class DoorUpdate(Schema):
    """Only the fields sent change. Changing the time zone moves every schedule at this door to the new
    local clock."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "front door"}, {"timezone": "Europe/Berlin"}]})

    name: Name | None = Field(default=None, examples=["front door"])
    timezone: TimezoneName | None = Field(default=None, examples=["Europe/Berlin"])

    @field_validator("name", "timezone")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Validators run only on sent fields: leaving a field out keeps it, sending null is a mistake.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class DoorPublic(Schema):
    id: int
    name: str
    timezone: str
    created_at: datetime

    @classmethod
    def of(cls, door: Door) -> DoorPublic:
        return cls(id=door.id, name=door.name, timezone=door.timezone, created_at=door.created_at)


class DoorPage(_Page):
    items: list[DoorPublic]


# --- groups --------------------------------------------------------------------------------------------------


class GroupCreate(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "night shift"}]})

    name: Name = Field(description="Unique name of the group.", examples=["night shift"])


class GroupUpdate(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "weekend shift"}]})

    name: Name = Field(description="The new, unique name.", examples=["weekend shift"])


class GroupPublic(Schema):
    id: int
    name: str
    created_at: datetime

    @classmethod
    def of(cls, group: Group) -> GroupPublic:
        return cls(id=group.id, name=group.name, created_at=group.created_at)


class GroupPage(_Page):
    items: list[GroupPublic]


class MemberPublic(Schema):
    """A member of a group: the person, as listings show them."""

    person_id: int
    external_id: str
    display_name: str
    status: PersonStatus

    @classmethod
    def of(cls, person: Person) -> MemberPublic:
        return cls(
            person_id=person.id, external_id=person.external_id, display_name=person.display_name, status=person.status
        )


class MemberPage(_Page):
    items: list[MemberPublic]


# --- rules ---------------------------------------------------------------------------------------------------


class RuleCreate(Schema):
    """Who (``person_id`` or ``group_id``: exactly one, else 422 ``rule_subject``), where (``door_id``, or
    ``all_doors: true`` for every door: exactly one, else 422 ``rule_door``),
    when (``windows``; none means at any time) and for how long
    (``[valid_from, valid_until)``, each open when left out; ``valid_until`` must follow ``valid_from``,
    else 422 ``validity_invalid``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "group_id": 1,
                    "door_id": 1,
                    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}],
                },
                {
                    "person_id": 7,
                    "all_doors": True,
                    "valid_from": "2025-06-01T00:00:00+02:00",
                    "valid_until": "2025-09-01T00:00:00+02:00",
                    "windows": [{"days": ["fri", "sat"], "start": "22:00", "end": "06:00"}],
                },
            ]
        }
    )

    person_id: Id | None = Field(default=None, description="The person granted (or give group_id).")
    group_id: Id | None = Field(default=None, description="The group granted (or give person_id).")
    door_id: Id | None = Field(default=None, description="The door (or give all_doors: true).")
    all_doors: bool = Field(
        default=False, description="true: every door, present and future (then no door_id). Never implied."
    )
    valid_from: Instant | None = Field(default=None, description="From this instant on (with a time zone).")
    valid_until: Instant | None = Field(default=None, description="Until this instant, exclusive.")
    windows: list[WeeklyWindow] = Field(
        default_factory=list, max_length=24, description="Weekly windows in the door's local time; empty: always."
    )

    def per_day_windows(self) -> list[tuple[int, int, int]]:
        return [window for entry in self.windows for window in entry.per_day()]


class RulePublic(Schema):
    id: int
    person_id: int | None
    group_id: int | None
    door_id: int | None = Field(description="null: every door (all_doors).")
    all_doors: bool
    valid_from: datetime | None
    valid_until: datetime | None
    windows: list[WeeklyWindow] = Field(description="Empty: at any time within the validity period.")
    created_at: datetime

    @classmethod
    def of(cls, rule: AccessRule) -> RulePublic:
        """The API's view of a stored rule, its per-day windows grouped back into days + HH:MM."""
        return cls(
            id=rule.id,
            person_id=rule.person_id,
            group_id=rule.group_id,
            door_id=rule.door_id,
            all_doors=rule.door_id is None,
            valid_from=rule.valid_from,
            valid_until=rule.valid_until,
            windows=weekly_windows((w.weekday, w.start_minute, w.end_minute) for w in rule.windows),
            created_at=rule.created_at,
        )


class RulePage(_Page):
    items: list[RulePublic]
