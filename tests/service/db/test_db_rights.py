"""The rights repositories (doors, groups, rules) on SQLite and PostgreSQL: CRUD, the codes of each refusal,
that a refusal writes nothing, the SQL cascades, and that ``rules_for`` loads exactly the applicable rules
in one query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from service.db.models import AccessRule, ApiKeyDoor, Door, Group, GroupMember, KeyRole, Person, RuleWindow
from service.domain.policy import Rule, Window
from service.repositories import doors, groups, rules
from service.repositories.errors import ConflictError, InvalidValueError, NotFoundError, StorageError
from service.repositories.keys import create_key

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)  # a Monday


def _person(session: Session, external_id: str) -> int:
    person = Person(external_id=external_id, display_name=f"person {external_id}")
    session.add(person)
    session.flush()
    return person.id


def _refused(code: str, call: Callable[[], object]) -> None:
    """``call`` raises the storage error with this ``code``, of the class that gives the right HTTP status."""
    expected: type[StorageError] = InvalidValueError
    if code.endswith("_not_found"):
        expected = NotFoundError
    elif code == "name_taken":
        expected = ConflictError
    with pytest.raises(expected) as caught:
        call()
    assert caught.value.code == code


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the engine runs while the test holds the list."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


# --- doors ---------------------------------------------------------------------------------------------------


def test_door_crud(session: Session) -> None:
    door = doors.create_door(session, name="main entrance", timezone="Europe/Paris")
    longest = "Tür " + "é" * 96  # the column's width, in characters, not bytes
    other = doors.create_door(session, name=longest, timezone="UTC")
    session.commit()
    session.expunge_all()

    got = doors.get_door(session, door_id=door.id)
    assert (got.name, got.timezone) == ("main entrance", "Europe/Paris")
    assert got.created_at.tzinfo is UTC
    assert doors.get_door_by_name(session, name=longest).id == other.id
    listed, total = doors.list_doors(session)
    assert ([d.id for d in listed], total) == ([door.id, other.id], 2)
    listed, total = doors.list_doors(session, limit=1, offset=1)
    assert ([d.id for d in listed], total) == ([other.id], 2)
    assert doors.list_doors(session, offset=2) == ([], 2)

    doors.update_door(session, door_id=door.id, timezone="America/New_York")
    doors.update_door(session, door_id=door.id, name="front")
    doors.update_door(session, door_id=door.id, name="front")  # its own name is not a conflict
    session.commit()
    session.expunge_all()
    got = doors.get_door(session, door_id=door.id)
    assert (got.name, got.timezone) == ("front", "America/New_York")

    doors.delete_door(session, door_id=door.id)
    session.commit()
    _refused("door_not_found", lambda: doors.get_door(session, door_id=door.id))
    _refused("door_not_found", lambda: doors.get_door_by_name(session, name="front"))
    _refused("door_not_found", lambda: doors.delete_door(session, door_id=door.id))
    _refused("door_not_found", lambda: doors.update_door(session, door_id=door.id, name="again"))


def test_door_name_taken(session: Session) -> None:
    first = doors.create_door(session, name="lab", timezone="UTC")
    second = doors.create_door(session, name="office", timezone="UTC")
    session.commit()
    _refused("name_taken", lambda: doors.create_door(session, name="lab", timezone="Europe/Paris"))
    _refused("name_taken", lambda: doors.update_door(session, door_id=second.id, name="lab", timezone="Asia/Tokyo"))
    session.commit()
    session.expunge_all()
    listed = [(d.id, d.name, d.timezone) for d in doors.list_doors(session)[0]]
    assert listed == [(first.id, "lab", "UTC"), (second.id, "office", "UTC")]


def test_a_name_taken_between_check_and_write_is_still_a_conflict(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another transaction can take the name after the SELECT: the unique index refuses the flush, and that
    # must surface as the same 409, not as a driver error.
    doors.create_door(session, name="race", timezone="UTC")
    monkeypatch.setattr(doors, "_check_name_free", lambda *_args, **_kwargs: None)
    _refused("name_taken", lambda: doors.create_door(session, name="race", timezone="UTC"))


@pytest.mark.parametrize(
    "timezone_name",
    ["Mars/Olympus", "Europe", "Europe/", "", " UTC", "a" * 300, "UTC\x00", "../etc/passwd"],
    ids=["unknown", "folder", "slash", "empty", "space", "long", "nul", "path"],
)
def test_door_timezone_invalid(session: Session, timezone_name: str) -> None:
    door = doors.create_door(session, name="tz", timezone="UTC")
    _refused("timezone_invalid", lambda: doors.create_door(session, name="tz2", timezone=timezone_name))
    _refused("timezone_invalid", lambda: doors.update_door(session, door_id=door.id, name="x", timezone=timezone_name))
    session.commit()
    session.expunge_all()
    assert [(d.name, d.timezone) for d in doors.list_doors(session)[0]] == [("tz", "UTC")]


@pytest.mark.parametrize(
    "name", ["", " lab", "lab\n", "x" * 101, "la\x00b", "la\ud800b"], ids=["empty", "lead", "nl", "long", "nul", "surr"]
)
def test_unusable_names_are_refused(session: Session, name: str) -> None:
    _refused("name_invalid", lambda: doors.create_door(session, name=name, timezone="UTC"))
    _refused("name_invalid", lambda: groups.create_group(session, name=name))
    session.commit()
    assert _count(session, Door) == _count(session, Group) == 0


def test_deleting_a_door_deletes_its_rules_and_key_bindings(session: Session) -> None:
    person = _person(session, "D-1")
    door = doors.create_door(session, name="doomed", timezone="UTC")
    kept = doors.create_door(session, name="kept", timezone="UTC")
    at_door = rules.create_rule(session, person_id=person, door_id=door.id, windows=[(0, 60, 120)])
    at_kept = rules.create_rule(session, person_id=person, door_id=kept.id)
    everywhere = rules.create_rule(session, person_id=person, all_doors=True)
    key, _ = create_key(session, name="t", role=KeyRole.TERMINAL, door_ids=[door.id, kept.id])
    session.commit()

    doors.delete_door(session, door_id=door.id)
    session.commit()
    session.expunge_all()
    assert session.scalars(select(AccessRule.id).order_by(AccessRule.id)).all() == [at_kept.id, everywhere.id]
    assert _count(session, RuleWindow) == 0
    assert session.scalars(select(ApiKeyDoor.door_id).where(ApiKeyDoor.key_id == key.id)).all() == [kept.id]
    assert at_door.id not in [rule.id for rule in rules.list_rules(session)[0]]


# --- groups --------------------------------------------------------------------------------------------------


def test_group_crud_and_members(session: Session) -> None:
    group = groups.create_group(session, name="staff")
    other = groups.create_group(session, name="visitors")
    alice, bob = _person(session, "G-1"), _person(session, "G-2")
    session.commit()

    listed, total = groups.list_groups(session, limit=1, offset=1)
    assert ([g.id for g in listed], total) == ([other.id], 2)
    assert groups.add_member(session, group_id=group.id, person_id=bob) is True
    assert groups.add_member(session, group_id=group.id, person_id=alice) is True
    assert groups.add_member(session, group_id=group.id, person_id=alice) is False  # idempotent
    assert groups.add_member(session, group_id=other.id, person_id=alice) is True
    session.commit()
    session.expunge_all()

    assert [p.id for p in groups.list_members(session, group_id=group.id)[0]] == [alice, bob]
    members, total = groups.list_members(session, group_id=group.id, limit=1, offset=1)
    assert ([p.id for p in members], total) == ([bob], 2)
    assert groups.group_ids_of(session, person_id=alice) == frozenset({group.id, other.id})
    assert groups.group_ids_of(session, person_id=bob) == frozenset({group.id})
    assert groups.group_ids_of(session, person_id=10**6) == frozenset()

    groups.update_group(session, group_id=group.id, name="employees")
    groups.update_group(session, group_id=group.id, name="employees")
    session.commit()
    session.expunge_all()
    assert groups.get_group(session, group_id=group.id).name == "employees"

    groups.remove_member(session, group_id=group.id, person_id=bob)
    session.commit()
    assert groups.list_members(session, group_id=group.id)[1] == 1
    _refused("member_not_found", lambda: groups.remove_member(session, group_id=group.id, person_id=bob))


def test_group_refusals(session: Session) -> None:
    group = groups.create_group(session, name="staff")
    other = groups.create_group(session, name="guests")
    person = _person(session, "G-9")
    session.commit()

    _refused("name_taken", lambda: groups.create_group(session, name="staff"))
    _refused("name_taken", lambda: groups.update_group(session, group_id=other.id, name="staff"))
    _refused("group_not_found", lambda: groups.get_group(session, group_id=10**6))
    _refused("group_not_found", lambda: groups.update_group(session, group_id=10**6, name="x"))
    _refused("group_not_found", lambda: groups.delete_group(session, group_id=10**6))
    _refused("group_not_found", lambda: groups.add_member(session, group_id=10**6, person_id=person))
    _refused("person_not_found", lambda: groups.add_member(session, group_id=group.id, person_id=10**6))
    _refused("group_not_found", lambda: groups.remove_member(session, group_id=10**6, person_id=person))
    _refused("person_not_found", lambda: groups.remove_member(session, group_id=group.id, person_id=10**6))
    _refused("member_not_found", lambda: groups.remove_member(session, group_id=group.id, person_id=person))
    _refused("group_not_found", lambda: groups.list_members(session, group_id=10**6))
    session.commit()
    session.expunge_all()
    assert [(g.id, g.name) for g in groups.list_groups(session)[0]] == [(group.id, "staff"), (other.id, "guests")]
    assert _count(session, GroupMember) == 0


def test_deleting_a_group_deletes_its_memberships_and_rules(session: Session) -> None:
    person = _person(session, "G-5")
    group = groups.create_group(session, name="doomed")
    kept = groups.create_group(session, name="kept")
    groups.add_member(session, group_id=group.id, person_id=person)
    groups.add_member(session, group_id=kept.id, person_id=person)
    rules.create_rule(session, group_id=group.id, all_doors=True, windows=[(1, 0, 1440)])
    kept_rule = rules.create_rule(session, group_id=kept.id, all_doors=True)
    own_rule = rules.create_rule(session, person_id=person, all_doors=True)
    session.commit()

    groups.delete_group(session, group_id=group.id)
    session.commit()
    session.expunge_all()
    assert groups.group_ids_of(session, person_id=person) == frozenset({kept.id})
    assert session.scalars(select(AccessRule.id).order_by(AccessRule.id)).all() == [kept_rule.id, own_rule.id]
    assert _count(session, RuleWindow) == 0
    assert session.get(Person, person) is not None


# --- rules ---------------------------------------------------------------------------------------------------


def test_rule_round_trip(session: Session) -> None:
    person = _person(session, "R-1")
    door = doors.create_door(session, name="r", timezone="Europe/Paris")
    paris = timezone(timedelta(hours=2))
    rule = rules.create_rule(
        session,
        person_id=person,
        door_id=door.id,
        valid_from=datetime(2025, 6, 1, 9, 0, tzinfo=paris),
        valid_until=datetime(2025, 7, 1, tzinfo=UTC),
        windows=[(0, 480, 1080), (4, 1320, 360), (0, 480, 1080), (6, 0, 1440)],
    )
    session.commit()
    session.expunge_all()

    got = rules.get_rule(session, rule_id=rule.id)
    assert (got.person_id, got.group_id, got.door_id) == (person, None, door.id)
    assert got.valid_from == datetime(2025, 6, 1, 7, 0, tzinfo=UTC)
    assert got.valid_from.tzinfo is UTC and got.valid_until == datetime(2025, 7, 1, tzinfo=UTC)
    # The duplicate (0, 480, 1080) is stored once; the others keep their order.
    stored = [(w.weekday, w.start_minute, w.end_minute) for w in got.windows]
    assert stored == [(0, 480, 1080), (4, 1320, 360), (6, 0, 1440)]

    rules.delete_rule(session, rule_id=rule.id)
    session.commit()
    assert _count(session, AccessRule) == _count(session, RuleWindow) == 0
    _refused("rule_not_found", lambda: rules.get_rule(session, rule_id=rule.id))
    _refused("rule_not_found", lambda: rules.delete_rule(session, rule_id=rule.id))


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"person": True, "group": True}, "rule_subject"),
        ({}, "rule_subject"),
        ({"person": True, "valid_from": T0, "valid_until": T0}, "validity_invalid"),
        ({"person": True, "valid_from": T0, "valid_until": T0 - timedelta(seconds=1)}, "validity_invalid"),
        ({"person": True, "valid_from": datetime(2025, 1, 1)}, "validity_invalid"),
        ({"person": True, "valid_until": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))}, "validity_invalid"),
        ({"person": True, "windows": [(7, 0, 60)]}, "window_invalid"),
        ({"person": True, "windows": [(-1, 0, 60)]}, "window_invalid"),
        ({"person": True, "windows": [(0, 1440, 60)]}, "window_invalid"),
        ({"person": True, "windows": [(0, 0, 1441)]}, "window_invalid"),
        ({"person": True, "windows": [(0, 600, 600)]}, "window_invalid"),
        ({"person": True, "windows": [(0, 60, 120), (True, 0, 60)]}, "window_invalid"),
        ({"person": True, "windows": [(0, 60)]}, "window_invalid"),
        ({"person": True, "windows": [(d, m, m + 1) for d in range(7) for m in range(25)]}, "window_invalid"),
        ({"person": 10**6}, "person_not_found"),
        ({"group": 10**6}, "group_not_found"),
        ({"person": True, "door": 10**6}, "door_not_found"),
        ({"person": True, "all_doors": False}, "rule_door"),
        ({"person": True, "door": True, "all_doors": True}, "rule_door"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_rule_refusals_write_nothing(session: Session, values: dict[str, object], code: str) -> None:
    person = _person(session, "R-2")
    group = groups.create_group(session, name="r-group")
    door = doors.create_door(session, name="r-door", timezone="UTC")
    session.commit()

    def pick(key: str, real: int) -> object:
        given = values.get(key)
        return real if given is True else given

    _refused(
        code,
        lambda: rules.create_rule(
            session,
            person_id=pick("person", person),  # type: ignore[arg-type]
            group_id=pick("group", group.id),  # type: ignore[arg-type]
            door_id=pick("door", door.id),  # type: ignore[arg-type]
            all_doors=values.get("all_doors", "door" not in values),  # type: ignore[arg-type]
            valid_from=values.get("valid_from"),  # type: ignore[arg-type]
            valid_until=values.get("valid_until"),  # type: ignore[arg-type]
            windows=values.get("windows", ()),  # type: ignore[arg-type]
        ),
    )
    session.commit()
    assert _count(session, AccessRule) == _count(session, RuleWindow) == 0


def test_window_limits_are_accepted(session: Session) -> None:
    person = _person(session, "R-3")
    limits = [(6, 0, 1440), (0, 1439, 0), (3, 1380, 60)]
    hourly = [(day, hour * 60, hour * 60 + 60) for day in range(7) for hour in range(24)]
    rule = rules.create_rule(
        session, person_id=person, all_doors=True, windows=limits + hourly[: rules.MAX_WINDOWS - len(limits)]
    )
    session.commit()
    assert len(rules.get_rule(session, rule_id=rule.id).windows) == rules.MAX_WINDOWS


def test_list_rules_filters_on_the_rules_own_columns(session: Session) -> None:
    alice, bob = _person(session, "L-1"), _person(session, "L-2")
    group = groups.create_group(session, name="l-group")
    groups.add_member(session, group_id=group.id, person_id=alice)
    one = doors.create_door(session, name="l-one", timezone="UTC")
    two = doors.create_door(session, name="l-two", timezone="UTC")
    r1 = rules.create_rule(session, person_id=alice, door_id=one.id, windows=[(0, 0, 60)])
    r2 = rules.create_rule(session, person_id=alice, all_doors=True)
    r3 = rules.create_rule(session, group_id=group.id, door_id=one.id)
    r4 = rules.create_rule(session, person_id=bob, door_id=two.id)
    session.commit()
    session.expunge_all()

    def ids(**filters: int) -> list[int]:
        listed, total = rules.list_rules(session, **filters)
        if "limit" not in filters:
            assert total == len(listed)
        return [rule.id for rule in listed]

    assert ids() == [r1.id, r2.id, r3.id, r4.id]
    assert ids(person_id=alice) == [r1.id, r2.id]  # not the group's rule
    assert ids(group_id=group.id) == [r3.id]
    assert ids(door_id=one.id) == [r1.id, r3.id]  # not the all-doors rule
    assert ids(person_id=alice, door_id=one.id) == [r1.id]
    assert ids(person_id=bob, door_id=one.id) == []
    assert ids(limit=2, offset=1) == [r2.id, r3.id]
    assert rules.list_rules(session, door_id=one.id, limit=1)[1] == 2
    listed, _ = rules.list_rules(session, person_id=alice)
    assert [(w.weekday, w.start_minute, w.end_minute) for w in listed[0].windows] == [(0, 0, 60)]


def test_rules_for_loads_exactly_the_applicable_rules_in_one_query(session: Session, statements: list[str]) -> None:
    alice, bob = _person(session, "F-1"), _person(session, "F-2")
    member, outsider = groups.create_group(session, name="f-in"), groups.create_group(session, name="f-out")
    groups.add_member(session, group_id=member.id, person_id=alice)
    door = doors.create_door(session, name="f-door", timezone="Europe/Paris")
    elsewhere = doors.create_door(session, name="f-else", timezone="UTC")
    until = T0 + timedelta(days=30)
    applicable = [
        rules.create_rule(session, person_id=alice, door_id=door.id, windows=[(0, 480, 1080), (4, 1320, 360)]),
        rules.create_rule(session, person_id=alice, all_doors=True, valid_from=T0, valid_until=until),
        rules.create_rule(session, group_id=member.id, door_id=door.id, windows=[(5, 0, 1440)]),
        rules.create_rule(session, group_id=member.id, all_doors=True),
    ]
    for values in (
        {"person_id": alice, "door_id": elsewhere.id},
        {"group_id": member.id, "door_id": elsewhere.id},
        {"group_id": outsider.id, "door_id": door.id},
        {"group_id": outsider.id, "all_doors": True},
        {"person_id": bob, "door_id": door.id},
        {"person_id": bob, "all_doors": True},
    ):
        rules.create_rule(session, **values)  # type: ignore[arg-type]
    session.commit()
    session.expunge_all()

    group_ids = groups.group_ids_of(session, person_id=alice)
    statements.clear()
    loaded = rules.rules_for(session, person_id=alice, group_ids=group_ids, door_id=door.id)
    assert len(statements) == 1, statements
    assert loaded == [
        Rule(applicable[0].id, door.id, alice, None, None, None, (Window(0, 480, 1080), Window(4, 1320, 360))),
        Rule(applicable[1].id, None, alice, None, T0, until, ()),
        Rule(applicable[2].id, door.id, None, member.id, None, None, (Window(5, 0, 1440),)),
        Rule(applicable[3].id, None, None, member.id, None, None, ()),
    ]
    without_groups = rules.rules_for(session, person_id=alice, group_ids=[], door_id=door.id)
    assert [rule.id for rule in without_groups] == [applicable[0].id, applicable[1].id]
    assert rules.rules_for(session, person_id=10**6, group_ids=(), door_id=door.id) == []
