"""Access rules and their weekly windows in SQL, and the loader the access check calls on every request.

A rule grants one person or one group (exactly one) one door or, with ``door_id`` ``None``, every door, within
an optional validity period ``[valid_from, valid_until)`` and, when it has windows, only inside them. Rules are
created and deleted, never edited: a changed right is a new rule, so what a past decision relied on is not
rewritten under the access log.

The data rules are checked here, before SQL sees the row, so that each breach has its own code instead of a
driver's IntegrityError: ``rule_subject``, ``rule_door``, ``validity_invalid``, ``window_invalid``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, selectinload

from service.db.models import AccessRule, Door, Group, Person, RuleWindow
from service.domain import policy
from service.repositories.doors import page
from service.repositories.errors import InvalidValueError, NotFoundError

# (weekday 0 = Monday, start_minute, end_minute), as in the rule_windows table.
WindowSpec = tuple[int, int, int]

# An hourly schedule on every day of the week; more than that is a mistake, not a schedule.
MAX_WINDOWS = 7 * 24


def _check_subject(person_id: int | None, group_id: int | None) -> None:
    if (person_id is None) == (group_id is None):
        raise InvalidValueError("rule_subject", "a rule names exactly one of person_id and group_id")


def _check_door(door_id: int | None, all_doors: bool) -> None:
    # Explicit: a client that forgot door_id once granted every door.
    if (door_id is None) != all_doors:
        raise InvalidValueError("rule_door", "a rule names a door (door_id) or says all_doors: true, exactly one")


def _check_instant(name: str, value: datetime | None) -> None:
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValueError("validity_invalid", f"{name} must carry a time zone (e.g. 2025-01-01T00:00:00Z)")
    try:
        value.astimezone(UTC)  # how it is stored; year 1 at +05:00 has no UTC instant
    except OverflowError as exc:
        raise InvalidValueError("validity_invalid", f"{name} is out of range") from exc


def _check_validity(valid_from: datetime | None, valid_until: datetime | None) -> None:
    _check_instant("valid_from", valid_from)
    _check_instant("valid_until", valid_until)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise InvalidValueError("validity_invalid", "valid_until must be after valid_from")


def _check_windows(windows: Iterable[WindowSpec]) -> list[policy.Window]:
    """The windows as policy values, duplicates dropped (order kept); ``window_invalid`` for any bad one.

    The policy's :class:`~service.domain.policy.Window` is the one definition of a valid window, so storage and
    the decision cannot disagree about what a window means.
    """
    checked: dict[policy.Window, None] = {}
    for spec in windows:
        if len(spec) != 3 or not all(type(value) is int for value in spec):
            raise InvalidValueError("window_invalid", f"a window is (weekday, start_minute, end_minute), got {spec!r}")
        try:
            checked.setdefault(policy.Window(*spec), None)
        except ValueError as exc:
            raise InvalidValueError("window_invalid", str(exc)) from exc
    if len(checked) > MAX_WINDOWS:
        raise InvalidValueError("window_invalid", f"a rule has at most {MAX_WINDOWS} windows")
    return list(checked)


def create_rule(
    session: Session,
    *,
    person_id: int | None = None,
    group_id: int | None = None,
    door_id: int | None = None,
    all_doors: bool = False,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    windows: Iterable[WindowSpec] = (),
) -> AccessRule:
    """Store a rule for a person or a group (exactly one) at ``door_id``, or at every door with ``all_doors``
    (exactly one of the two, else ``rule_door``).

    No windows means at any time within the validity period. The values are checked first (``rule_subject``,
    ``validity_invalid``, ``window_invalid``), then the person, group and door must exist (``*_not_found``).
    """
    _check_subject(person_id, group_id)
    _check_door(door_id, all_doors)
    _check_validity(valid_from, valid_until)
    checked = _check_windows(windows)
    if person_id is not None and session.get(Person, person_id) is None:
        raise NotFoundError("person", person_id)
    if group_id is not None and session.get(Group, group_id) is None:
        raise NotFoundError("group", group_id)
    if door_id is not None and session.get(Door, door_id) is None:
        raise NotFoundError("door", door_id)
    rule = AccessRule(
        person_id=person_id, group_id=group_id, door_id=door_id, valid_from=valid_from, valid_until=valid_until
    )
    rule.windows = [
        RuleWindow(weekday=window.weekday, start_minute=window.start_minute, end_minute=window.end_minute)
        for window in checked
    ]
    session.add(rule)
    session.flush()
    return rule


def get_rule(session: Session, *, rule_id: int) -> AccessRule:
    rule = session.get(AccessRule, rule_id, options=[selectinload(AccessRule.windows)])
    if rule is None:
        raise NotFoundError("rule", rule_id)
    return rule


def list_rules(
    session: Session,
    *,
    person_id: int | None = None,
    group_id: int | None = None,
    door_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AccessRule], int]:
    """One page of rules by id, windows loaded, filtered on the given columns (all of them must match), and
    how many rules pass the filters.

    The filters match the rule's own columns: ``person_id`` finds the rules naming that person, not those they
    get through a group, and ``door_id`` finds the rules naming that door, not the all-doors ones. An
    administrator looking for "what does this person have" asks :func:`rules_for`'s question instead.
    """
    statement = select(AccessRule).options(selectinload(AccessRule.windows)).order_by(AccessRule.id)
    if person_id is not None:
        statement = statement.where(AccessRule.person_id == person_id)
    if group_id is not None:
        statement = statement.where(AccessRule.group_id == group_id)
    if door_id is not None:
        statement = statement.where(AccessRule.door_id == door_id)
    return page(session, statement, limit=limit, offset=offset)


def delete_rule(session: Session, *, rule_id: int) -> None:
    """Delete the rule; SQL deletes its windows with it."""
    rule = session.get(AccessRule, rule_id)
    if rule is None:
        raise NotFoundError("rule", rule_id)
    session.delete(rule)
    session.flush()


def rules_for(session: Session, *, person_id: int, group_ids: Iterable[int], door_id: int) -> list[policy.Rule]:
    """The rules that could let the person through this door: theirs or their groups', for this door or for
    every door, as the policy's values, windows included, by rule id.

    One query (rules left-joined to their windows, read as plain rows: no ORM objects to build), because it
    runs on every access check. Validity periods and schedules are not filtered here: that is the decision,
    made by :func:`service.domain.policy.decide_rights`.
    """
    groups = sorted(set(group_ids))
    subject: ColumnElement[bool] = AccessRule.person_id == person_id
    if groups:
        subject = or_(subject, AccessRule.group_id.in_(groups))
    statement = (
        select(
            AccessRule.id,
            AccessRule.door_id,
            AccessRule.person_id,
            AccessRule.group_id,
            AccessRule.valid_from,
            AccessRule.valid_until,
            RuleWindow.weekday,
            RuleWindow.start_minute,
            RuleWindow.end_minute,
        )
        .outerjoin(RuleWindow, RuleWindow.rule_id == AccessRule.id)
        .where(subject, or_(AccessRule.door_id.is_(None), AccessRule.door_id == door_id))
        .order_by(AccessRule.id, RuleWindow.id)
    )
    heads: dict[int, tuple[int | None, int | None, int | None, datetime | None, datetime | None]] = {}
    windows: dict[int, list[policy.Window]] = {}
    for row in session.execute(statement):
        if row.id not in heads:
            heads[row.id] = (row.door_id, row.person_id, row.group_id, row.valid_from, row.valid_until)
            windows[row.id] = []
        if row.weekday is not None:
            windows[row.id].append(policy.Window(row.weekday, row.start_minute, row.end_minute))
    return [
        policy.Rule(
            id=rule_id,
            door_id=door,
            person_id=person,
            group_id=group,
            valid_from=valid_from,
            valid_until=valid_until,
            windows=tuple(windows[rule_id]),
        )
        for rule_id, (door, person, group, valid_from, valid_until) in heads.items()
    ]
