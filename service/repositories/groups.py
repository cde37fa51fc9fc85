"""Groups and their members in SQL.

A group is a name that rules can target instead of one person (``AccessRule.group_id``); membership is a plain
link table. Deleting a group deletes its memberships and its rules in SQL (ON DELETE CASCADE), so no rule is
left pointing at nobody; deleting a person removes them from every group the same way.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db.models import Group, GroupMember, Person
from service.repositories.doors import check_name, page
from service.repositories.errors import ConflictError, NotFoundError


def _check_name_free(session: Session, name: str, *, group_id: int | None = None) -> None:
    statement = select(Group.id).where(Group.name == name)
    if group_id is not None:
        statement = statement.where(Group.id != group_id)
    if session.scalar(statement) is not None:
        raise ConflictError("name_taken", f"a group named {name!r} exists already")


def _flush(session: Session, name: str) -> None:
    # A concurrent transaction may take the name between the check and the write: the unique index has the
    # last word, and its refusal is the same conflict.
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError("name_taken", f"a group named {name!r} exists already") from exc


def create_group(session: Session, *, name: str) -> Group:
    """Store a new group; ``name_taken`` (409) when the name is used, ``name_invalid`` for an unusable name."""
    name = check_name(name)
    _check_name_free(session, name)
    group = Group(name=name)
    session.add(group)
    _flush(session, name)
    return group


def get_group(session: Session, *, group_id: int) -> Group:
    group = session.get(Group, group_id)
    if group is None:
        raise NotFoundError("group", group_id)
    return group


def list_groups(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[Group], int]:
    """One page of groups by id, and how many groups there are."""
    return page(session, select(Group).order_by(Group.id), limit=limit, offset=offset)


def update_group(session: Session, *, group_id: int, name: str) -> Group:
    """Rename the group (its rules and members stay)."""
    group = get_group(session, group_id=group_id)
    name = check_name(name)
    _check_name_free(session, name, group_id=group_id)
    group.name = name
    _flush(session, name)
    return group


def delete_group(session: Session, *, group_id: int) -> None:
    """Delete the group; SQL deletes its memberships and its rules with it."""
    group = get_group(session, group_id=group_id)
    session.delete(group)
    session.flush()


def _require_person(session: Session, person_id: int) -> None:
    if session.get(Person, person_id) is None:
        raise NotFoundError("person", person_id)


def add_member(session: Session, *, group_id: int, person_id: int) -> bool:
    """Make the person a member of the group; True if they were not one already.

    Idempotent, so that a client may retry after a lost response. An unknown group or person is
    ``group_not_found`` / ``person_not_found``.
    """
    get_group(session, group_id=group_id)
    _require_person(session, person_id)
    if session.get(GroupMember, (group_id, person_id)) is not None:
        return False
    session.add(GroupMember(group_id=group_id, person_id=person_id))
    session.flush()
    return True


def remove_member(session: Session, *, group_id: int, person_id: int) -> None:
    """End the person's membership; ``member_not_found`` when they are not a member (or either side is unknown,
    which is said first, so that a mistyped id is not mistaken for "already removed")."""
    get_group(session, group_id=group_id)
    _require_person(session, person_id)
    member = session.get(GroupMember, (group_id, person_id))
    if member is None:
        raise NotFoundError("member", person_id)
    session.delete(member)
    session.flush()


def list_members(session: Session, *, group_id: int, limit: int = 100, offset: int = 0) -> tuple[list[Person], int]:
    """One page of the group's members by person id, and how many there are; ``group_not_found`` for an
    unknown group (an empty page would read as "nobody")."""
    get_group(session, group_id=group_id)
    statement = (
        select(Person)
        .join(GroupMember, GroupMember.person_id == Person.id)
        .where(GroupMember.group_id == group_id)
        .order_by(Person.id)
    )
    return page(session, statement, limit=limit, offset=offset)


def group_ids_of(session: Session, *, person_id: int) -> frozenset[int]:
    """The ids of the groups the person belongs to (empty for an unknown person): the access check's input."""
    return frozenset(session.scalars(select(GroupMember.group_id).where(GroupMember.person_id == person_id)))
