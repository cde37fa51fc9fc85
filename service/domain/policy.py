"""The rights decision: may this matched person open this door at this instant?

Pure: no HTTP, no SQL, no model. The caller loads the :class:`Subject` and the candidate :class:`Rule` rows
and passes them in, so every branch here is testable with plain values.

Semantics of :func:`decide_rights`, in the order they are applied (the first that applies decides):

1. ``at`` must be timezone-aware and ``door_timezone`` a known IANA zone; otherwise :class:`ValueError`.
   These are caller errors, so they raise whatever the person's state is instead of hiding behind a denial.
2. Person checks come before any rule, so a suspended or out-of-date person is denied even with a rule that
   would grant: not ``active`` → ``person_suspended``; ``at < valid_from`` → ``person_not_yet_valid``;
   ``at >= valid_until`` → ``person_expired`` (validity periods are half-open ``[from, until)``).
3. A rule applies when it names the person or one of the person's groups, covers this door (``door_id`` is
   ``None`` for all doors, or equals the door) and is within its own validity period ``[from, until)`` at
   ``at``. No applicable rule → ``no_rule``.
4. Schedules are read in the door's local wall-clock time (``at`` converted to ``door_timezone``), so a
   09:00–17:00 window means 09:00–17:00 on the clock by the door on both sides of a DST change. A rule
   without windows grants at any time; otherwise it grants when one of its windows contains the local time.
   A window whose end is before its start runs past midnight into the next weekday (Sunday spills into
   Monday).
5. One or more granting rules → ``granted`` with the lowest granting rule id, so the audit record names the
   same rule whatever order the rules were loaded in. Otherwise → ``outside_schedule``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 24 * 60


class Reason(enum.StrEnum):
    """The stable reason codes of an access decision: the complete list, stored in audit records and returned
    to clients, so a value is never renamed or reused once released."""

    GRANTED = "granted"
    UNKNOWN_FACE = "unknown_face"
    NO_RULE = "no_rule"
    OUTSIDE_SCHEDULE = "outside_schedule"
    PERSON_SUSPENDED = "person_suspended"
    PERSON_NOT_YET_VALID = "person_not_yet_valid"
    PERSON_EXPIRED = "person_expired"
    QUALITY_TOO_LOW = "quality_too_low"
    NO_FACE = "no_face"
    AMBIGUOUS_MATCH = "ambiguous_match"
    INTERNAL_ERROR = "internal_error"


def _require_aware(name: str, value: datetime | None) -> None:
    # Comparing naive with aware datetimes raises TypeError deep inside a decision; refuse them up front.
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")


def _require_period(owner: str, valid_from: datetime | None, valid_until: datetime | None) -> None:
    _require_aware(f"{owner}.valid_from", valid_from)
    _require_aware(f"{owner}.valid_until", valid_until)
    if valid_from is not None and valid_until is not None and valid_from >= valid_until:
        # An empty period can never apply; it is a data error, not a quiet "never".
        raise ValueError(
            f"{owner}: valid_from {valid_from.isoformat()} is not before valid_until {valid_until.isoformat()}"
        )


def _within(at: datetime, valid_from: datetime | None, valid_until: datetime | None) -> bool:
    return (valid_from is None or valid_from <= at) and (valid_until is None or at < valid_until)


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly window in the door's local wall-clock time: minutes ``[start_minute, end_minute)`` of ``weekday``
    (0 = Monday, as :meth:`datetime.weekday`).

    ``end_minute == 1440`` is the end of the day. ``end_minute < start_minute`` runs past midnight into the next
    weekday: Friday 22:00–06:00 covers Friday 22:00 to Saturday 05:59, and Sunday's spill lands on Monday.
    ``start_minute == end_minute`` is rejected because it is ambiguous between "never" and "all day".
    """

    weekday: int
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")
        if not 0 <= self.start_minute < MINUTES_PER_DAY:
            raise ValueError(f"start_minute must be 0 to {MINUTES_PER_DAY - 1}, got {self.start_minute}")
        if not 0 <= self.end_minute <= MINUTES_PER_DAY:
            raise ValueError(f"end_minute must be 0 to {MINUTES_PER_DAY}, got {self.end_minute}")
        if self.start_minute == self.end_minute:
            raise ValueError(f"empty window: start_minute == end_minute == {self.start_minute}")

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window spills past midnight into the next weekday."""
        return self.end_minute < self.start_minute

    def contains(self, local: datetime) -> bool:
        """Whether the wall-clock time ``local`` lies in the window.

        Only the wall-clock fields of ``local`` are read (weekday, hour, minute), so pass a time already
        converted to the door's zone. Seconds need no care: the bounds are whole minutes, so comparing the
        minute of the day gives the same answer as comparing exact times.
        """
        weekday = local.weekday()
        minute = local.hour * 60 + local.minute
        if not self.crosses_midnight:
            return weekday == self.weekday and self.start_minute <= minute < self.end_minute
        return (weekday == self.weekday and minute >= self.start_minute) or (
            weekday == (self.weekday + 1) % 7 and minute < self.end_minute
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """One access rule: a person or a group may open a door (or all doors) during a validity period and,
    when ``windows`` is not empty, only inside one of the weekly windows.

    ``valid_from`` and ``valid_until`` are aware datetimes bounding the half-open period ``[from, until)``;
    ``None`` leaves that side open.
    """

    id: int
    door_id: int | None
    person_id: int | None
    group_id: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    windows: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        # A rule for both a person and a group would be read two ways by whoever edits it; require one target.
        if (self.person_id is None) == (self.group_id is None):
            raise ValueError(
                f"rule {self.id}: exactly one of person_id and group_id must be set, "
                f"got person_id={self.person_id} group_id={self.group_id}"
            )
        _require_period(f"rule {self.id}", self.valid_from, self.valid_until)

    def applies_to(self, subject: Subject, door_id: int) -> bool:
        """Whether the rule targets this person (directly or through a group) at this door."""
        targets = self.person_id == subject.person_id or (
            self.group_id is not None and self.group_id in subject.group_ids
        )
        return targets and (self.door_id is None or self.door_id == door_id)

    def valid_at(self, at: datetime) -> bool:
        """Whether ``at`` lies in the rule's own validity period."""
        return _within(at, self.valid_from, self.valid_until)

    def allows(self, local: datetime) -> bool:
        """Whether the schedule allows the door's wall-clock time ``local``; no windows means at any time."""
        return not self.windows or any(window.contains(local) for window in self.windows)


@dataclass(frozen=True, slots=True)
class Subject:
    """The matched person as the policy sees them: their status, validity period ``[from, until)`` (aware
    datetimes, ``None`` for an open side) and the groups they belong to."""

    person_id: int
    active: bool
    valid_from: datetime | None
    valid_until: datetime | None
    group_ids: frozenset[int]

    def __post_init__(self) -> None:
        _require_period(f"person {self.person_id}", self.valid_from, self.valid_until)


@dataclass(frozen=True, slots=True)
class RightsDecision:
    """The outcome of :func:`decide_rights`. A grant names the rule that granted it (for the audit record);
    a denial names none, since no single rule is to blame."""

    reason: Reason
    rule_id: int | None = None

    def __post_init__(self) -> None:
        if self.granted and self.rule_id is None:
            raise ValueError("a granted decision must name the granting rule")
        if not self.granted and self.rule_id is not None:
            raise ValueError(f"a denial ({self.reason}) names no rule, got rule_id={self.rule_id}")

    @property
    def granted(self) -> bool:
        """Whether the door may open."""
        return self.reason is Reason.GRANTED


def door_zone(door_timezone: str) -> tzinfo:
    """The IANA zone of a door; :class:`ValueError` naming the zone when it is unknown or malformed."""
    try:
        return ZoneInfo(door_timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # zoneinfo reports a bad key as KeyError (unknown), ValueError (malformed, not a TZif file) or OSError
        # (a directory such as "Europe", a name too long); the caller sees one kind of configuration error.
        raise ValueError(
            f"unknown door timezone {door_timezone!r} (expected an IANA name such as 'Europe/Berlin')"
        ) from exc


def decide_rights(
    subject: Subject, rules: Iterable[Rule], *, door_id: int, door_timezone: str, at: datetime
) -> RightsDecision:
    """Decide whether ``subject`` may open door ``door_id`` (in ``door_timezone``) at the aware instant ``at``.

    ``rules`` may contain rules for other people, groups or doors; they are filtered here. See the module
    docstring for the order of the checks. Raises :class:`ValueError` for a naive ``at`` or an unknown zone.
    """
    _require_aware("at", at)
    zone = door_zone(door_timezone)

    if not subject.active:
        return RightsDecision(Reason.PERSON_SUSPENDED)
    if subject.valid_from is not None and at < subject.valid_from:
        return RightsDecision(Reason.PERSON_NOT_YET_VALID)
    if subject.valid_until is not None and at >= subject.valid_until:
        return RightsDecision(Reason.PERSON_EXPIRED)

    applicable = [rule for rule in rules if rule.applies_to(subject, door_id) and rule.valid_at(at)]
    if not applicable:
        return RightsDecision(Reason.NO_RULE)

    local = at.astimezone(zone)
    granting = [rule.id for rule in applicable if rule.allows(local)]
    if not granting:
        return RightsDecision(Reason.OUTSIDE_SCHEDULE)
    return RightsDecision(Reason.GRANTED, rule_id=min(granting))
