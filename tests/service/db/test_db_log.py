"""The access log is append-only at the database level, on both dialects: UPDATE and DELETE are refused by a
trigger (whatever the client), while the SET NULL of a deleted door, key or person still goes through."""

from __future__ import annotations

import pytest
from pg import PostgresServer
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service.db.migrate import upgrade
from service.db.models import AccessLogEntry, ApiKey, Decision, Door, KeyRole, Person
from service.db.session import create_db_engine


def _log_one(session: Session) -> AccessLogEntry:
    person = Person(external_id="E-1", display_name="Eve")
    door = Door(name="lab", timezone="UTC")
    key = ApiKey(name="t", prefix="fg_lab", secret_hash="00" * 32, role=KeyRole.TERMINAL)
    session.add_all([person, door, key])
    session.flush()
    entry = AccessLogEntry(
        door_id=door.id,
        door_name=door.name,
        key_id=key.id,
        person_id=person.id,
        person_external_id=person.external_id,
        decision=Decision.DENIED,
        reason="outside_schedule",
        score=0.8,
        margin=0.4,
        latency_ms=12.0,
        model_id="m1",
        threshold=0.41,
        gallery_size=1000,
    )
    session.add(entry)
    session.commit()
    return entry


@pytest.mark.parametrize(
    "values",
    [
        {"decision": "granted"},
        {"reason": "granted"},
        {"score": 0.99},
        {"person_external_id": "X"},
        {"quality": None},
        {"threshold": 0.1},
        {"gallery_size": 1},
        # a SET NULL passes only when nothing else changes: SQLite's guard names every column it compares, so
        # migration 0003 recreated it with its two new ones
        {"person_id": None, "threshold": 0.1},
        {"door_id": None, "gallery_size": 1},
    ],
    ids=[
        "decision",
        "reason",
        "score",
        "person_external_id",
        "same_value",
        "threshold",
        "gallery_size",
        "null_and_threshold",
        "null_and_gallery_size",
    ],
)
def test_update_is_refused(session: Session, values: dict[str, object]) -> None:
    entry = _log_one(session)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(update(AccessLogEntry).where(AccessLogEntry.id == entry.id).values(**values))
    session.rollback()
    assert session.get_one(AccessLogEntry, entry.id, populate_existing=True).decision is Decision.DENIED


def test_repointing_a_reference_is_refused(session: Session) -> None:
    entry = _log_one(session)
    other = Person(external_id="E-2", display_name="Mallory")
    session.add(other)
    session.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(update(AccessLogEntry).where(AccessLogEntry.id == entry.id).values(person_id=other.id))


def test_delete_is_refused(session: Session) -> None:
    entry = _log_one(session)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete(AccessLogEntry).where(AccessLogEntry.id == entry.id))
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete(AccessLogEntry))  # SQLite's truncate optimisation must not skip the trigger
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AccessLogEntry)) == 1


def test_truncate_is_refused_on_postgresql(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    upgrade(url)
    engine = create_db_engine(url)
    try:
        with Session(engine) as session:
            _log_one(session)
            with pytest.raises(DBAPIError, match="append-only"):
                session.execute(text("TRUNCATE access_log"))
    finally:
        engine.dispose()
        postgres.drop_database(url)


def test_deleting_references_keeps_the_entry(session: Session) -> None:
    entry = _log_one(session)
    for model in (Person, Door, ApiKey):
        session.execute(delete(model))
    session.commit()
    kept = session.get_one(AccessLogEntry, entry.id, populate_existing=True)
    assert (kept.person_id, kept.door_id, kept.key_id) == (None, None, None)
    assert (kept.person_external_id, kept.door_name, kept.reason, kept.score) == ("E-1", "lab", "outside_schedule", 0.8)


def test_insert_or_replace_cannot_rewrite_an_entry(session: Session) -> None:
    """SQLite's ``INSERT OR REPLACE`` over an existing id deleted the old row without firing the delete trigger:
    a grant could be rewritten into a denial. PostgreSQL's upsert goes through the update trigger."""
    entry = _log_one(session)
    columns = "id, ts, door_name, decision, reason, latency_ms"
    values = f"{entry.id}, CURRENT_TIMESTAMP, 'lab', 'granted', 'granted', 1.0"
    if session.get_bind().dialect.name == "sqlite":
        statements = [
            f"INSERT OR REPLACE INTO access_log ({columns}) VALUES ({values})",
            f"REPLACE INTO access_log ({columns}) VALUES ({values})",
            f"INSERT INTO access_log ({columns}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET decision = 'granted'",
        ]
    else:
        statements = [
            f"INSERT INTO access_log ({columns}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET decision = 'granted'"
        ]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    kept = session.get_one(AccessLogEntry, entry.id, populate_existing=True)
    assert (kept.decision, kept.reason) == (Decision.DENIED, "outside_schedule")
    # A new entry with its own id still goes in.
    session.execute(
        text(
            f"INSERT INTO access_log ({columns}) "
            f"VALUES ({entry.id + 1000}, CURRENT_TIMESTAMP, 'lab', 'denied', 'no_face', 1.0)"
        )
    )
    session.commit()


def test_the_granting_rule_cannot_be_rewritten(session: Session) -> None:
    entry = _log_one(session)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(update(AccessLogEntry).where(AccessLogEntry.id == entry.id).values(rule_id=7))


def test_an_entry_whose_person_door_or_key_is_gone_is_still_written(session: Session) -> None:
    """A person deleted while their face was being checked: the decision was never logged (a foreign-key violation
    on the insert, 2 of 40 in a targeted race on PostgreSQL). Every decision is logged, keeping who and where by
    name when the rows it read are gone."""
    from service.domain.outcomes import AccessOutcome, MatchedPerson
    from service.domain.policy import Reason
    from service.repositories.access_log import append_entry

    person = Person(external_id="gone-1", display_name="Gone")
    door = Door(name="gone door", timezone="UTC")
    key = ApiKey(name="gone key", prefix="fg_gone", secret_hash="00" * 32, role=KeyRole.TERMINAL)
    session.add_all([person, door, key])
    session.commit()
    ids = (person.id, door.id, key.id)
    for model in (Person, Door, ApiKey):
        session.execute(delete(model))
    session.commit()
    outcome = AccessOutcome(
        decision=Decision.GRANTED,
        reason=Reason.GRANTED,
        door_id=ids[1],
        person=MatchedPerson(ids[0], "gone-1", "Gone"),
        rule_id=None,
        score=0.9,
        margin=0.3,
        frames=1,
        usable_frames=1,
        quality=None,
        latency_ms=5.0,
        stages_ms={},
        log_id=None,
        model_id="m1",
    )
    entry = append_entry(session, outcome, door_name="gone door", key_id=ids[2])
    session.commit()
    kept = session.get_one(AccessLogEntry, entry.id, populate_existing=True)
    assert (kept.person_id, kept.door_id, kept.key_id) == (None, None, None)
    assert (kept.person_external_id, kept.door_name, kept.decision) == ("gone-1", "gone door", Decision.GRANTED)
