"""The rights decision of service.domain.policy: schedules in the door's wall-clock time, rule scope and validity,
person status with precedence over rules, and the errors for bad input. Plain values only: no HTTP, no DB, no model.

Calendar used below (2024): Wednesday 5 June; Friday 7 June; Sunday 9 June; Monday 10 June. Europe/Berlin springs
forward on Sunday 31 March (02:00 CET → 03:00 CEST) and falls back on Sunday 27 October (03:00 CEST → 02:00 CET).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from service.domain.policy import Reason, RightsDecision, Rule, Subject, Window, decide_rights

BERLIN = "Europe/Berlin"
MON, WED, FRI, SAT, SUN = 0, 2, 4, 5, 6
NOON_UTC = datetime(2024, 6, 5, 12, 0, tzinfo=UTC)  # Wednesday
DOOR = 1
OTHER_DOOR = 2


def hm(hours: int, minutes: int = 0) -> int:
    """Minute of the day."""
    return hours * 60 + minutes


def local(day: int, hours: int, minutes: int = 0, seconds: int = 0, *, zone: str = BERLIN, month: int = 6) -> datetime:
    """An aware datetime at a wall-clock time in ``zone`` (2024)."""
    return datetime(2024, month, day, hours, minutes, seconds, tzinfo=ZoneInfo(zone))


def person(
    *,
    person_id: int = 10,
    active: bool = True,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    groups: frozenset[int] = frozenset(),
) -> Subject:
    return Subject(person_id, active, valid_from, valid_until, groups)


def rule(
    rule_id: int = 1,
    *,
    door_id: int | None = DOOR,
    person_id: int | None = 10,
    group_id: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    windows: tuple[Window, ...] = (),
) -> Rule:
    return Rule(rule_id, door_id, person_id, group_id, valid_from, valid_until, windows)


def decide(
    subject: Subject, rules: list[Rule], at: datetime, *, door_id: int = DOOR, zone: str = BERLIN
) -> RightsDecision:
    return decide_rights(subject, rules, door_id=door_id, door_timezone=zone, at=at)


# --- Window ---------------------------------------------------------------------------------------------------

DAYTIME = Window(WED, hm(9), hm(17))
EVENING_TO_MIDNIGHT = Window(WED, hm(20), 1440)
FROM_MIDNIGHT = Window(WED, 0, hm(1))
FRIDAY_NIGHT = Window(FRI, hm(22), hm(6))
SUNDAY_NIGHT = Window(SUN, hm(23), hm(2))


@pytest.mark.parametrize(
    ("window", "at", "inside"),
    [
        # inside / outside, start inclusive, end exclusive, another weekday
        (DAYTIME, datetime(2024, 6, 5, 12, 0), True),
        (DAYTIME, datetime(2024, 6, 5, 8, 59, 59), False),
        (DAYTIME, datetime(2024, 6, 5, 9, 0), True),
        (DAYTIME, datetime(2024, 6, 5, 16, 59, 59), True),
        (DAYTIME, datetime(2024, 6, 5, 17, 0), False),
        (DAYTIME, datetime(2024, 6, 6, 12, 0), False),
        (DAYTIME, datetime(2024, 6, 4, 12, 0), False),
        # end_minute == 1440 is the end of the day, not a spill into the next one
        (EVENING_TO_MIDNIGHT, datetime(2024, 6, 5, 19, 59), False),
        (EVENING_TO_MIDNIGHT, datetime(2024, 6, 5, 20, 0), True),
        (EVENING_TO_MIDNIGHT, datetime(2024, 6, 5, 23, 59, 59), True),
        (EVENING_TO_MIDNIGHT, datetime(2024, 6, 6, 0, 0), False),
        # start_minute == 0
        (FROM_MIDNIGHT, datetime(2024, 6, 5, 0, 0), True),
        (FROM_MIDNIGHT, datetime(2024, 6, 4, 23, 59), False),
        (FROM_MIDNIGHT, datetime(2024, 6, 5, 1, 0), False),
        # across midnight: Friday 22:00 to Saturday 05:59
        (FRIDAY_NIGHT, datetime(2024, 6, 7, 21, 59), False),
        (FRIDAY_NIGHT, datetime(2024, 6, 7, 22, 0), True),
        (FRIDAY_NIGHT, datetime(2024, 6, 7, 23, 59), True),
        (FRIDAY_NIGHT, datetime(2024, 6, 8, 0, 0), True),
        (FRIDAY_NIGHT, datetime(2024, 6, 8, 5, 59, 59), True),
        (FRIDAY_NIGHT, datetime(2024, 6, 8, 6, 0), False),
        (FRIDAY_NIGHT, datetime(2024, 6, 7, 3, 0), False),  # Friday's small hours belong to Thursday's window
        (FRIDAY_NIGHT, datetime(2024, 6, 8, 23, 0), False),  # Saturday evening is not Friday evening
        (FRIDAY_NIGHT, datetime(2024, 6, 9, 3, 0), False),  # nor does the spill reach Sunday
        # Sunday's spill wraps to Monday
        (SUNDAY_NIGHT, datetime(2024, 6, 9, 23, 30), True),
        (SUNDAY_NIGHT, datetime(2024, 6, 10, 0, 0), True),
        (SUNDAY_NIGHT, datetime(2024, 6, 10, 1, 59), True),
        (SUNDAY_NIGHT, datetime(2024, 6, 10, 2, 0), False),
        (SUNDAY_NIGHT, datetime(2024, 6, 9, 1, 0), False),  # Sunday's small hours belong to Saturday
        (SUNDAY_NIGHT, datetime(2024, 6, 8, 23, 30), False),
    ],
)
def test_window_contains(window: Window, at: datetime, inside: bool) -> None:
    assert window.contains(at) is inside


@pytest.mark.parametrize(
    ("weekday", "start", "end"),
    [(-1, 0, 60), (7, 0, 60), (0, -1, 60), (0, 1440, 60), (0, 0, 1441), (0, 0, -1), (0, 600, 600), (0, 0, 0)],
)
def test_invalid_window_raises(weekday: int, start: int, end: int) -> None:
    with pytest.raises(ValueError):
        Window(weekday, start, end)


@pytest.mark.parametrize(("weekday", "start", "end"), [(0, 0, 1440), (6, 1439, 1440), (6, 1439, 0), (3, 1, 0)])
def test_extreme_valid_windows_are_accepted(weekday: int, start: int, end: int) -> None:
    assert Window(weekday, start, end).end_minute == end


# --- Rule and Subject validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("person_id", "group_id"), [(None, None), (10, 20)])
def test_rule_needs_exactly_one_target(person_id: int | None, group_id: int | None) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        rule(person_id=person_id, group_id=group_id)


@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [
        (datetime(2024, 1, 1), None),  # naive
        (None, datetime(2024, 1, 1)),  # naive
        (NOON_UTC, NOON_UTC),  # empty period
        (NOON_UTC, NOON_UTC - timedelta(days=1)),  # reversed
    ],
)
def test_bad_validity_periods_raise(valid_from: datetime | None, valid_until: datetime | None) -> None:
    with pytest.raises(ValueError):
        rule(valid_from=valid_from, valid_until=valid_until)
    with pytest.raises(ValueError):
        person(valid_from=valid_from, valid_until=valid_until)


def test_rights_decision_invariants() -> None:
    assert RightsDecision(Reason.GRANTED, rule_id=3).granted
    assert not RightsDecision(Reason.NO_RULE).granted
    with pytest.raises(ValueError):
        RightsDecision(Reason.GRANTED)
    with pytest.raises(ValueError):
        RightsDecision(Reason.OUTSIDE_SCHEDULE, rule_id=3)


def test_reason_codes_are_the_stable_list() -> None:
    # These strings are stored in audit records and returned to clients; renaming one breaks both.
    assert {reason.value for reason in Reason} == {
        "granted",
        "unknown_face",
        "no_rule",
        "outside_schedule",
        "person_suspended",
        "person_not_yet_valid",
        "person_expired",
        "quality_too_low",
        "no_face",
        "ambiguous_match",
        "internal_error",
    }
    assert f"{Reason.NO_RULE}" == "no_rule"


# --- decide_rights: schedules in local time ---------------------------------------------------------------------

WEDNESDAY_OFFICE_HOURS = rule(windows=(DAYTIME,))


@pytest.mark.parametrize(
    ("at", "zone", "expected"),
    [
        # 14:00 UTC: Berlin 16:00, New York 10:00, Tokyo 23:00 (all Wednesday)
        (datetime(2024, 6, 5, 14, 0, tzinfo=UTC), "Europe/Berlin", Reason.GRANTED),
        (datetime(2024, 6, 5, 14, 0, tzinfo=UTC), "America/New_York", Reason.GRANTED),
        (datetime(2024, 6, 5, 14, 0, tzinfo=UTC), "Asia/Tokyo", Reason.OUTSIDE_SCHEDULE),
        # 07:30 UTC: Berlin 09:30, New York 03:30, Tokyo 16:30
        (datetime(2024, 6, 5, 7, 30, tzinfo=UTC), "Europe/Berlin", Reason.GRANTED),
        (datetime(2024, 6, 5, 7, 30, tzinfo=UTC), "America/New_York", Reason.OUTSIDE_SCHEDULE),
        (datetime(2024, 6, 5, 7, 30, tzinfo=UTC), "Asia/Tokyo", Reason.GRANTED),
        # 16:00 UTC: Berlin 18:00, New York 12:00, Tokyo Thursday 01:00
        (datetime(2024, 6, 5, 16, 0, tzinfo=UTC), "Europe/Berlin", Reason.OUTSIDE_SCHEDULE),
        (datetime(2024, 6, 5, 16, 0, tzinfo=UTC), "America/New_York", Reason.GRANTED),
        (datetime(2024, 6, 5, 16, 0, tzinfo=UTC), "Asia/Tokyo", Reason.OUTSIDE_SCHEDULE),
    ],
)
def test_same_instant_is_judged_in_each_doors_local_time(at: datetime, zone: str, expected: Reason) -> None:
    assert decide(person(), [WEDNESDAY_OFFICE_HOURS], at, zone=zone).reason is expected


SUNDAY_MORNING = rule(windows=(Window(SUN, hm(9), hm(17)),))
SUNDAY_TWO_TO_THREE = rule(windows=(Window(SUN, hm(2), hm(3)),))


@pytest.mark.parametrize(
    ("the_rule", "at", "expected"),
    [
        # The week before spring-forward (CET, UTC+1): 07:00 UTC is 08:00 local, before the window.
        (SUNDAY_MORNING, datetime(2024, 3, 24, 7, 0, tzinfo=UTC), Reason.OUTSIDE_SCHEDULE),
        (SUNDAY_MORNING, datetime(2024, 3, 24, 8, 0, tzinfo=UTC), Reason.GRANTED),
        # Spring-forward day (CEST, UTC+2 from 01:00 UTC): the same 07:00 UTC is now 09:00 local, inside.
        (SUNDAY_MORNING, datetime(2024, 3, 31, 6, 59, tzinfo=UTC), Reason.OUTSIDE_SCHEDULE),
        (SUNDAY_MORNING, datetime(2024, 3, 31, 7, 0, tzinfo=UTC), Reason.GRANTED),
        (SUNDAY_MORNING, datetime(2024, 3, 31, 14, 59, tzinfo=UTC), Reason.GRANTED),
        (SUNDAY_MORNING, datetime(2024, 3, 31, 15, 0, tzinfo=UTC), Reason.OUTSIDE_SCHEDULE),
        # Fall-back day (CET again from 01:00 UTC): 09:00 local is 08:00 UTC.
        (SUNDAY_MORNING, datetime(2024, 10, 27, 7, 59, tzinfo=UTC), Reason.OUTSIDE_SCHEDULE),
        (SUNDAY_MORNING, datetime(2024, 10, 27, 8, 0, tzinfo=UTC), Reason.GRANTED),
        (SUNDAY_MORNING, datetime(2024, 10, 27, 16, 0, tzinfo=UTC), Reason.OUTSIDE_SCHEDULE),
        # 02:00-03:00 does not exist on spring-forward day: 01:59 CET is followed by 03:00 CEST.
        (SUNDAY_TWO_TO_THREE, datetime(2024, 3, 31, 0, 59, tzinfo=UTC), Reason.OUTSIDE_SCHEDULE),
        (SUNDAY_TWO_TO_THREE, datetime(2024, 3, 31, 1, 0, tzinfo=UTC), Reason.OUTSIDE_SCHEDULE),
        # ... and happens twice on fall-back day: 02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC).
        (SUNDAY_TWO_TO_THREE, datetime(2024, 10, 27, 0, 30, tzinfo=UTC), Reason.GRANTED),
        (SUNDAY_TWO_TO_THREE, datetime(2024, 10, 27, 1, 30, tzinfo=UTC), Reason.GRANTED),
        (SUNDAY_TWO_TO_THREE, datetime(2024, 10, 27, 2, 0, tzinfo=UTC), Reason.OUTSIDE_SCHEDULE),
    ],
)
def test_berlin_dst_days_keep_wall_clock_windows(the_rule: Rule, at: datetime, expected: Reason) -> None:
    assert decide(person(), [the_rule], at).reason is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(7, 23, 0), Reason.GRANTED),  # Friday evening
        (local(8, 5, 59), Reason.GRANTED),  # Saturday morning, the spill
        (local(8, 6, 0), Reason.OUTSIDE_SCHEDULE),
        (local(9, 23, 30), Reason.GRANTED),  # Sunday night
        (local(10, 1, 0), Reason.GRANTED),  # Monday morning, Sunday's spill
        (local(10, 2, 0), Reason.OUTSIDE_SCHEDULE),
        (local(5, 12, 0), Reason.OUTSIDE_SCHEDULE),  # Wednesday
    ],
)
def test_night_windows_through_decide_rights(at: datetime, expected: Reason) -> None:
    night_shift = rule(windows=(FRIDAY_NIGHT, SUNDAY_NIGHT))
    assert decide(person(), [night_shift], at).reason is expected


def test_rule_without_windows_grants_at_any_time() -> None:
    for hours in range(0, 24 * 7, 5):
        at = NOON_UTC + timedelta(hours=hours)
        assert decide(person(), [rule(7)], at) == RightsDecision(Reason.GRANTED, rule_id=7)


# --- decide_rights: which rules apply -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (frozenset({20}), RightsDecision(Reason.GRANTED, rule_id=5)),
        (frozenset({19, 20, 21}), RightsDecision(Reason.GRANTED, rule_id=5)),
        (frozenset({21}), RightsDecision(Reason.NO_RULE)),
        (frozenset(), RightsDecision(Reason.NO_RULE)),
    ],
)
def test_group_rules_apply_to_members_only(groups: frozenset[int], expected: RightsDecision) -> None:
    group_rule = rule(5, person_id=None, group_id=20)
    assert decide(person(groups=groups), [group_rule], NOON_UTC) == expected


def test_rules_for_other_people_do_not_apply() -> None:
    assert decide(person(person_id=11), [rule(person_id=10)], NOON_UTC).reason is Reason.NO_RULE
    # A group id equal to the person id must not be mistaken for the person.
    assert decide(person(person_id=20), [rule(person_id=None, group_id=20)], NOON_UTC).reason is Reason.NO_RULE


@pytest.mark.parametrize(
    ("rule_door", "at_door", "expected"),
    [
        (None, DOOR, Reason.GRANTED),
        (None, OTHER_DOOR, Reason.GRANTED),
        (DOOR, DOOR, Reason.GRANTED),
        (OTHER_DOOR, DOOR, Reason.NO_RULE),
    ],
)
def test_door_scope(rule_door: int | None, at_door: int, expected: Reason) -> None:
    assert decide(person(), [rule(door_id=rule_door)], NOON_UTC, door_id=at_door).reason is expected


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "expected"),
    [
        (None, NOON_UTC - timedelta(seconds=1), Reason.NO_RULE),  # expired
        (None, NOON_UTC, Reason.NO_RULE),  # until is exclusive
        (None, NOON_UTC + timedelta(seconds=1), Reason.GRANTED),
        (NOON_UTC + timedelta(seconds=1), None, Reason.NO_RULE),  # not yet valid
        (NOON_UTC, None, Reason.GRANTED),  # from is inclusive
        (NOON_UTC - timedelta(days=1), NOON_UTC + timedelta(days=1), Reason.GRANTED),
    ],
)
def test_rule_validity_period(valid_from: datetime | None, valid_until: datetime | None, expected: Reason) -> None:
    the_rule = rule(valid_from=valid_from, valid_until=valid_until)
    assert decide(person(), [the_rule], NOON_UTC).reason is expected


def test_expired_rule_is_ignored_not_outside_schedule() -> None:
    expired = rule(1, valid_until=NOON_UTC - timedelta(days=1))
    off_hours = rule(2, windows=(Window(MON, hm(1), hm(2)),))
    assert decide(person(), [expired], NOON_UTC).reason is Reason.NO_RULE
    assert decide(person(), [expired, off_hours], NOON_UTC).reason is Reason.OUTSIDE_SCHEDULE


# --- decide_rights: the person first --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (person(active=False), Reason.PERSON_SUSPENDED),
        (person(valid_from=NOON_UTC + timedelta(seconds=1)), Reason.PERSON_NOT_YET_VALID),
        (person(valid_until=NOON_UTC), Reason.PERSON_EXPIRED),  # until is exclusive
        (person(valid_until=NOON_UTC - timedelta(days=1)), Reason.PERSON_EXPIRED),
        (person(valid_from=NOON_UTC), Reason.GRANTED),  # from is inclusive
        (person(valid_until=NOON_UTC + timedelta(seconds=1)), Reason.GRANTED),
        # Suspension is reported before the validity period.
        (person(active=False, valid_until=NOON_UTC - timedelta(days=1)), Reason.PERSON_SUSPENDED),
    ],
)
def test_person_checks_take_precedence_over_rules(subject: Subject, expected: Reason) -> None:
    # Rule 1 would grant on its own; rule 2 belongs to another door.
    rules = [rule(1), rule(2, door_id=OTHER_DOOR)]
    assert decide(subject, rules, NOON_UTC).reason is expected
    if expected is not Reason.GRANTED:
        # ... and the person's state is the reason even when no rule applies at all.
        assert decide(subject, [], NOON_UTC).reason is expected


# --- decide_rights: determinism and errors ------------------------------------------------------------------


@pytest.mark.parametrize("order", [(7, 3, 5), (3, 5, 7), (5, 7, 3)])
def test_lowest_granting_rule_id_wins_in_any_order(order: tuple[int, ...]) -> None:
    never_now = rule(1, windows=(Window(MON, hm(1), hm(2)),))  # lowest id, but does not grant now
    rules = [never_now, *(rule(rule_id, person_id=None, group_id=20) for rule_id in order)]
    decision = decide(person(groups=frozenset({20})), rules, NOON_UTC)
    assert decision == RightsDecision(Reason.GRANTED, rule_id=3)


def test_rules_may_be_a_one_shot_iterable() -> None:
    rules = (r for r in [rule(4, door_id=OTHER_DOOR), rule(9)])
    assert decide_rights(person(), rules, door_id=DOOR, door_timezone=BERLIN, at=NOON_UTC).rule_id == 9


def test_naive_instant_raises() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(person(), [rule()], datetime(2024, 6, 5, 12, 0))


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "Europe", "Europe/", "../etc/passwd", "/etc/localtime"])
def test_unknown_timezone_raises_even_for_a_suspended_person(zone: str) -> None:
    for subject in (person(), person(active=False)):
        with pytest.raises(ValueError, match="unknown door timezone"):
            decide(subject, [rule()], NOON_UTC, zone=zone)
