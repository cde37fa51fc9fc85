"""The administrator's records: a request schema in, the stored row out.

Each schema → repository mapping is written here once, and the HTTP routes, the console and the CLI all call it,
so a field added to a schema reaches every front end. The repositories keep their plain keyword arguments (their
own checks and tests stay at the storage level); as they do, these functions never commit: the caller owns the
transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.db.models import AccessRule, ApiKey, Door, Group, Person, PersonStatus, WebhookSubscription
from service.repositories import doors, groups, keys, people, rules, webhooks
from service.schemas.admin import KeyCreate, KeyPublic
from service.schemas.people import PersonCreate, PersonPage, PersonPublic, PersonUpdate
from service.schemas.rights import DoorCreate, DoorUpdate, GroupCreate, GroupUpdate, RuleCreate
from service.schemas.webhooks import WebhookCreate


def create_person(session: Session, body: PersonCreate) -> Person:
    """``external_id_taken`` (409) when the external id is in use, ``validity_invalid`` for an empty period."""
    return people.create_person(
        session,
        external_id=body.external_id,
        display_name=body.display_name,
        status=body.status,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )


def update_person(session: Session, person_id: int, body: PersonUpdate) -> Person:
    """Change the fields ``body`` sets: a validity bound sent as ``None`` is cleared, one left out stays."""
    bounds: dict[str, Any] = {
        bound: getattr(body, bound) for bound in ("valid_from", "valid_until") if bound in body.model_fields_set
    }
    return people.update_person(
        session, person_id=person_id, display_name=body.display_name, status=body.status, **bounds
    )


def person_public(session: Session, person: Person, *, model_id: str) -> PersonPublic:
    """The person as the API shows them, with their templates of ``model_id`` (the model now serving)."""
    counts = people.template_counts(session, person_ids=[person.id], model_id=model_id)
    return PersonPublic.of(person, counts.get(person.id, 0))


def people_page(
    session: Session,
    *,
    model_id: str,
    status: PersonStatus | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> PersonPage:
    """A page of people by id, each with their templates of ``model_id``, and how many match in all."""
    found, total = people.list_people(session, status=status, search=search, limit=limit, offset=offset)
    counts = people.template_counts(session, person_ids=[p.id for p in found], model_id=model_id)
    items = [PersonPublic.of(p, counts.get(p.id, 0)) for p in found]
    return PersonPage(items=items, total=total, limit=limit, offset=offset)


def create_door(session: Session, body: DoorCreate) -> Door:
    return doors.create_door(session, name=body.name, timezone=body.timezone)


def update_door(session: Session, door_id: int, body: DoorUpdate) -> Door:
    return doors.update_door(session, door_id=door_id, name=body.name, timezone=body.timezone)


def create_group(session: Session, body: GroupCreate) -> Group:
    return groups.create_group(session, name=body.name)


def update_group(session: Session, group_id: int, body: GroupUpdate) -> Group:
    return groups.update_group(session, group_id=group_id, name=body.name)


def create_rule(session: Session, body: RuleCreate) -> AccessRule:
    """The rule with its weekly windows turned into the storage's per-day windows."""
    return rules.create_rule(
        session,
        person_id=body.person_id,
        group_id=body.group_id,
        door_id=body.door_id,
        all_doors=body.all_doors,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        windows=body.per_day_windows(),
    )


def create_key(session: Session, body: KeyCreate) -> tuple[ApiKey, str]:
    """The stored key and its secret token (shown once: only its hash is stored)."""
    return keys.create_key(session, name=body.name, role=body.role, door_ids=body.door_ids)


def key_public(session: Session, key: ApiKey) -> KeyPublic:
    """The key as the API shows it, with the doors it is bound to."""
    return KeyPublic.of(key, keys.key_door_ids(session, key_id=key.id))


def create_webhook(session: Session, body: WebhookCreate) -> WebhookSubscription:
    return webhooks.create_subscription(
        session, url=body.url, secret=body.secret, door_ids=body.door_ids, decisions=body.decisions
    )
