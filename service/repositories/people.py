"""People in SQL: the operator's external id (badge number), name, status and validity window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import FaceTemplate, Person, PersonStatus
from service.db.revision import bump_template_revision
from service.repositories.errors import ConflictError, InvalidValueError, NotFoundError
from service.repositories.locks import keep_row, take_write_lock

_UNSET = object()


def _check_validity(valid_from: datetime | None, valid_until: datetime | None) -> None:
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise InvalidValueError("validity_invalid", "valid_until must be later than valid_from")


def create_person(
    session: Session,
    *,
    external_id: str,
    display_name: str,
    status: PersonStatus = PersonStatus.ACTIVE,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> Person:
    _check_validity(valid_from, valid_until)
    if session.scalar(select(Person.id).where(Person.external_id == external_id)) is not None:
        raise ConflictError("external_id_taken", f"a person with external id {external_id!r} exists already")
    person = Person(
        external_id=external_id,
        display_name=display_name,
        status=status,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    session.add(person)
    session.flush()
    return person


def get_person(session: Session, *, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError("person", person_id)
    return person


def lock_person(session: Session, *, person_id: int) -> None:
    """Check the person exists and keep them from being deleted until this transaction ends (before writing rows
    that refer to them: an enrolment racing the person's deletion is then a 404, not a foreign-key violation).
    :class:`NotFoundError` when they are gone."""
    take_write_lock(session)
    if keep_row(session, Person, person_id) is None:
        raise NotFoundError("person", person_id)


def get_person_by_external_id(session: Session, *, external_id: str) -> Person:
    person = session.scalar(select(Person).where(Person.external_id == external_id))
    if person is None:
        raise NotFoundError("person", external_id)
    return person


def list_people(
    session: Session,
    *,
    status: PersonStatus | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Person], int]:
    """A page of people by id, and how many match in all. ``search`` matches the external id or the name."""
    statement = select(Person)
    if status is not None:
        statement = statement.where(Person.status == status)
    if search:
        # The text is literal: LIKE's wildcards and the escape character itself are escaped.
        literal = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{literal}%"
        statement = statement.where(
            func.lower(Person.external_id).like(pattern, escape="\\")
            | func.lower(Person.display_name).like(pattern, escape="\\")
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    people = list(session.scalars(statement.order_by(Person.id).limit(limit).offset(offset)))
    return people, total


def update_person(
    session: Session,
    *,
    person_id: int,
    display_name: str | None = None,
    status: PersonStatus | None = None,
    valid_from: datetime | object | None = _UNSET,
    valid_until: datetime | object | None = _UNSET,
) -> Person:
    """Change the given fields (``valid_from`` / ``valid_until`` may be set to ``None`` to clear them)."""
    person = get_person(session, person_id=person_id)
    new_from = person.valid_from if valid_from is _UNSET else valid_from
    new_until = person.valid_until if valid_until is _UNSET else valid_until
    if not (new_from is None or isinstance(new_from, datetime)) or not (
        new_until is None or isinstance(new_until, datetime)
    ):
        raise TypeError("valid_from and valid_until must be datetimes or None")
    _check_validity(new_from, new_until)
    if display_name is not None:
        person.display_name = display_name
    if status is not None:
        person.status = status
    person.valid_from, person.valid_until = new_from, new_until
    session.flush()
    return person


def delete_person(session: Session, *, person_id: int) -> tuple[list[int], int]:
    """Delete the person (templates, memberships and rules cascade in SQL); the ids of the deleted templates and
    the template revision this bumped to.

    The person's row is locked first, so an enrolment still writing their templates finishes before the ids are
    read (else its templates would be deleted in SQL but stay in this replica's index).
    """
    take_write_lock(session)
    person = session.scalar(select(Person).where(Person.id == person_id).with_for_update())
    if person is None:
        raise NotFoundError("person", person_id)
    template_ids = list(session.scalars(select(FaceTemplate.id).where(FaceTemplate.person_id == person_id)))
    session.delete(person)
    session.flush()
    return template_ids, bump_template_revision(session)


def template_counts(session: Session, *, person_ids: list[int], model_id: str) -> dict[int, int]:
    """How many templates of ``model_id`` each person has."""
    if not person_ids:
        return {}
    rows = session.execute(
        select(FaceTemplate.person_id, func.count())
        .where(FaceTemplate.person_id.in_(person_ids), FaceTemplate.model_id == model_id)
        .group_by(FaceTemplate.person_id)
    )
    return {person_id: count for person_id, count in rows}
